"""Ensembling: member loading, soft and hard voting, thresholds, OOF-tuned weights, shards and merge."""
