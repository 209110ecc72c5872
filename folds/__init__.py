"""Fold making and the train-fold engine."""
