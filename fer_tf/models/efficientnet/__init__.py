"""EfficientNet-B0 transfer learning on FER2013 (Tariq et al.): model, Table I recipe
and Sec. III-C augmentation; the experiment and its report are in
`fer_tf.papers.efficientnet`."""
