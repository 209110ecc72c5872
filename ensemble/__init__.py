"""Members, prediction (resize, sliding window, TTA), soft/hard voting and thresholds."""
