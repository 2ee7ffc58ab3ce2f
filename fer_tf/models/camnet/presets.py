"""Training presets of the CAMnet thesis.

`BASELINE_CNN_RECIPE` is the Sec. 4.1 baseline CNN's training: Adam with
categorical cross-entropy, no augmentation. The thesis gives neither a
learning rate nor a batch size; Adam at 3e-4 and batches of 32 are this
package's choice (Keras' 1e-3 diverged to chance on held-out subjects of the
embedded data), 12 epochs on the embedded data, checkpoint on validation
accuracy. See `fer_tf.models.baseline_cnn` for the architecture notes.
"""

from fer_tf.training.recipes import OptimizerConfig, Recipe

BASELINE_CNN_RECIPE = Recipe(
    name="camnet_baseline_cnn", paper="camnet", epochs=12, batch_size=32,
    optimizer=OptimizerConfig("adam", 3e-4), loss="sparse_categorical_crossentropy",
    monitor="val_accuracy", mode="max", normalization="unit")
