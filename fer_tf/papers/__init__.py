"""One folder per paper: its experiment (`experiment.py`: budgets and the run)
and its report (`report.py`: the paper's tables beside ours, the figures),
above the architectures of `fer_tf.models`, which never import them."""
