"""The landmark part-ensemble paper's data (face crops with dlib's landmarks),
experiments (Sec. IV) and report (Tables I-III, Sec. V-B, Fig. 7-11)."""
