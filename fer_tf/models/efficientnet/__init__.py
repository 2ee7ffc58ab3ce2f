"""EfficientNet-B0 transfer learning on FER2013 (Tariq et al.): model, Table I recipe,
Sec. III-C augmentation and the Tables II-III report."""
