"""fer_tf: Keras 3 reference implementations of four facial-expression papers.

Importing the package is cheap: TensorFlow/Keras load only when a model,
layer or pipeline module is imported.
"""

__version__ = "0.1.0"
