"""The EfficientNet-B0 FER2013 paper's experiment (Table I recipe, Algorithm 1)
and its report (Tables II-III, Fig. 1-2)."""
