"""The CAMnet thesis' experiment (Tables 6.3-6.6, the ensemble with TTA) and its report."""
