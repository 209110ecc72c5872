"""The competition's RLE (row-major, starts from 1 by default): the codec of `rle`, under the name the CLI
contract gives it."""
from rle import decode, encode, fill_runs, format_ints, parse, run_bounds

__all__ = ["decode", "encode", "fill_runs", "format_ints", "parse", "run_bounds"]
