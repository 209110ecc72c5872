"""Scoring against labels, one protocol: per-image, per-class counts and Dice, the paired bootstrap."""
