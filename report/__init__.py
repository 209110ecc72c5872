"""The error-analysis report (`analyze`): per-class Dice, confusion, boundary error, overlays, curves."""
