import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")
# Tests never download: a missing model file must raise, not fetch (fer_tf.weights).
os.environ["FER_TF_OFFLINE"] = "1"
