"""Data for training and checks: the embedded sample set, the Netflix dataset, any folder of clips."""
