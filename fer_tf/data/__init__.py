"""Data: one record type, protocol splitters, the synthetic faces, readers, tf.data."""

from fer_tf.data.records import Records, concatenate  # noqa: F401
