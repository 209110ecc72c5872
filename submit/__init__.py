"""Submission format: RLE, CSV reading/writing/validation, and scoring."""
