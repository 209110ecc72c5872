"""`analyze` at the real task's size: 10 synthetic hand-bone images of 2048x2048 x 29 classes, the
prediction being the truth shifted by 8 px. Prints the wall time of the whole report (target: under a
minute on 2 cores) and, for its boundary-error stage, the speed-up of distance transforms inside each
class's bounding box over the same transforms on the whole image (`edge_stats` without the crop)."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from common import median_seconds

from data import get_task
from data.synthetic import make_handbone
from report.analyze import analyze
from report.boundary import boundary_stats, edge_stats
from submit.submission import write_submission

SIZE, PATIENTS = 2048, 5


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        root = make_handbone(work / "data", patients=PATIENTS, test_patients=0, size=SIZE, seed=0)
        task = get_task("handbone", root)
        cases = task.labelled_cases()
        with write_submission(work / "pred.csv", task.classes) as writer:
            for case in cases:
                writer.write_image(Path(case).name, np.roll(task.read_mask(case), 8, axis=2))
        started = time.perf_counter()
        analyze("handbone", work / "report", [str(work / "pred.csv")], data_root=str(root), quiet=True)
        total = time.perf_counter() - started
        truth = task.read_mask(cases[0])
        pred = np.roll(truth, 8, axis=2)
        cropped = median_seconds(lambda: [boundary_stats(p, t, 3) for p, t in zip(pred, truth)])
        whole = median_seconds(lambda: [edge_stats(p, t, 3) for p, t in zip(pred, truth)])
        same = all(np.allclose(boundary_stats(p, t, 3), edge_stats(p, t, 3)) for p, t in zip(pred, truth))
    print(f"analyze, {len(cases)} images of {SIZE}x{SIZE} x {len(task.classes)} classes: {total:.1f} s "
          f"(target < 60 s)")
    print(f"boundary error of one image: {cropped * 1e3:.0f} ms in bounding boxes vs {whole * 1e3:.0f} ms over the "
          f"whole image: {whole / cropped:.1f}x, same numbers: {same}")


if __name__ == "__main__":
    main()
