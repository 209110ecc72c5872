"""Each TTA set (and scales) of one trained Kvasir member on the 100 `validation` images, through `ensemble`
and `score` as a user runs them: Dice, IoU and seconds per image (prediction at native size included).

    python bench/kvasir_tta.py --member bench_out/kvasir_budget/lite0_unet/fold0
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import common  # noqa: F401  (puts the project on sys.path)

from configs.load import validate_config
from configs.schema import EnsembleConfig
from ensemble.run import run_ensemble
from evaluate.score import score_csv

ROOT = Path(__file__).resolve().parents[1]
PLANS = [("none", [1.0]), ("hflip", [1.0]), ("vflip", [1.0]), ("flips", [1.0]), ("d4", [1.0]),
         ("none", [0.9, 1.0, 1.1]), ("flips", [0.9, 1.0, 1.1])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--member", required=True, help="a run folder (train-fold's fold folder)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/kvasir-seg"))
    parser.add_argument("--out", default=str(ROOT / "bench_out/kvasir_tta"))
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="ensemble keys, e.g. amp=true")
    args = parser.parse_args()
    validation, out = Path(args.data) / "validation", Path(args.out)
    print(f"{'tta':<8} {'scales':<16} {'Dice':>7} {'IoU':>7} {'s/img':>7}")
    for tta, scales in PLANS:
        label = f"{tta}_{'-'.join(f'{s:g}' for s in scales)}"
        raw = {"task": "kvasir", "members": [{"path": args.member, "tta": tta, "tta_scales": scales}],
               "data": {"root": str(validation)}, "output": {"csv": str(out / f"{label}.csv")}, "batch_size": 4}
        for assignment in args.set:
            key, value = assignment.split("=", 1)
            raw[key] = value
        config = validate_config(raw, EnsembleConfig, "bench")
        started = time.perf_counter()
        csv = run_ensemble(config, quiet=True)
        seconds = (time.perf_counter() - started) / 100
        report = score_csv("kvasir", csv, validation, quiet=True)
        print(f"{tta:<8} {str(scales):<16} {report.mean_dice:7.4f} {float(report.iou.mean()):7.4f} {seconds:7.3f}",
              flush=True)


if __name__ == "__main__":
    main()
