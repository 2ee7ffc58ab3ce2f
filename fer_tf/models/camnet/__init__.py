"""CAMnet thesis (FER2013): its presets; the models register in their own modules."""
