"""The competition's submission format: RLE, CSV reading and writing, validation, scoring."""
