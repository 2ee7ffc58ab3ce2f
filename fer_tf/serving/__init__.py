"""Serving a trained expression model, above the models, training and
evaluation (nothing below imports it; tests/test_import_direction.py):

- `predict`: `load_classifier` and `predict_inputs`, what `fer-tf predict` runs;
- `export`: SavedModel, TFLite and `.keras` exports (`fer-tf export`);
- `fold`: batch-norm folding, the inference copy `predict` classifies with;
- `model_card`: ships a finished run as the default model, with its card;
- `assets/default_model/`: the shipped default model (`vgg_lite` on FER2013)
  and its MODEL_CARD.md (package data, setup.cfg).
"""
