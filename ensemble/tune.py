"""`tune-thresholds` and `tune-ensemble`: choices made on the members' OOF probabilities, written as the
ensemble config's `thresholds:` and `weights:` files, with the cross-validated table.

Dice is computed on each image's OOF grid (the largest among the entries, at most `train.oof_size` a
side), the truth resampled there by area."""
from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

import atomic
from configs.files import Thresholds, write_model
from configs.schema import DEFAULT_THRESHOLD, EnsembleConfig
from ensemble.oof import Counts, OofReader, oof_sources, refuse_among_labels
from ensemble.postprocess import PostChoice, choose_postprocess
from ensemble.postprocess import describe as describe_step
from ensemble.selection import STRATEGIES, ClassResult, tune_class
from ensemble.thresholds import CANDIDATES, best_candidates
from ensemble.weights import write_weights
from errors import UserError
from evaluate.bootstrap import Paired, paired_bootstrap
from evaluate.counts import mean_scored
from models.run_folder import run_label
from names import PostStep


def tune_thresholds(config: EnsembleConfig, out: Path, quiet: bool = False) -> Path:
    """Pick per class the threshold maximising the weighted vote's mean OOF Dice; write thresholds.json.
    Scored as tune-ensemble scores: on each image's OOF grid, the truth resampled there."""
    atomic.check_target(out)
    sources = oof_sources(config)
    refuse_among_labels(out, sources)
    names = sources.common_names()
    reader = OofReader(sources, names, quiet)
    weights = tuple(sources.weights)
    mean = np.stack([mean_scored(reader.read_class(channel).dice(weights), 0)
                     for channel in tqdm(range(len(reader.classes)), desc="thresholds", unit="class", disable=quiet)])
    default = int(np.flatnonzero(CANDIDATES == DEFAULT_THRESHOLD)[0])
    best = best_candidates(mean)
    return write_model(out, Thresholds(
        thresholds={c: float(CANDIDATES[b]) for c, b in zip(reader.classes, best)}, oof_images=len(names),
        oof_dice_default=float(mean[:, default].mean()), oof_dice_tuned=float(mean[np.arange(len(best)), best].mean())))


@dataclass
class Tuning:
    """What tune-ensemble wrote: the weights file, its table and the cross-validated summary."""
    weights_file: Path
    table_file: Path
    members: list[str]
    classes: list[ClassResult]
    postprocess: list[PostChoice]
    gain: Paired  # the tuned vote against the best single entry, cross-validated, per image

    def gain_line(self) -> str:
        """The tuned vote against the best member, cross-validated, as one line."""
        g = self.gain
        return (f"tuned - best member (cross-validated, paired bootstrap over {g.n} images): {g.diff:+.4f}, 95% "
                f"interval [{g.ci_low:+.4f}, {g.ci_high:+.4f}], tuned better in {g.p_b_better:.1%} of resamples, "
                f"images won {g.wins_b} / lost {g.wins_a} / tied {g.ties}")

    def table(self) -> str:
        """The cross-validated Dice per class and on average: best single member, uniform vote, tuned vote.
        Then post-processing alone: the final tuned vote's OOF Dice (its weights chosen on all images, so
        above `tuned`), the same with each fold cleaned by the step chosen on the others, and the step kept."""
        lines = [f"{'class':<16} {'best member':>11} {'uniform':>8} {'tuned':>8} {'vote':>8} {'vote+pp':>8}  "
                 f"post-processing kept, tuned weights"]
        for result, post in zip(self.classes, self.postprocess):
            v = result.validated
            lines.append(f"{result.name:<16} {v['best_member']:11.4f} {v['uniform']:8.4f} {v['tuned']:8.4f} "
                         f"{post.cv_without:8.4f} {post.cv_with:8.4f}  {describe_step(post.step)}, "
                         f"{describe(result.counts, self.members)}")
        means = {k: np.mean([r.validated[k] for r in self.classes]) for k in STRATEGIES}
        without, with_step = (np.mean([getattr(p, k) for p in self.postprocess]) for k in ("cv_without", "cv_with"))
        kept = np.mean([p.cv_with if p.step.step != PostStep.NONE else p.cv_without for p in self.postprocess])
        lines.append(f"{'mean':<16} {means['best_member']:11.4f} {means['uniform']:8.4f} {means['tuned']:8.4f} "
                     f"{without:8.4f} {with_step:8.4f}  {kept:.4f} with the kept steps only")
        lines.append(self.gain_line())
        return "\n".join(lines)


def describe(counts: Counts, members: list[str]) -> str:
    """`2x unetpp + effisegnet`: each chosen entry's short name, with how often it was picked."""
    return " + ".join(f"{c}x {run_label(m)}" if c > 1 else run_label(m) for c, m in zip(counts, members) if c)


def write_table(path: Path, members: list[str], results: list[ClassResult], posts: list[PostChoice]) -> None:
    """The cross-validated table of tune-ensemble, one row per class and a mean row, as CSV."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class", "best_member", "uniform", "tuned", "selection_best_member", "selection_uniform",
                     "selection_tuned", "threshold", "weights", "oof_without_postprocess", "cv_with_postprocess",
                     "postprocess"])
    for r, post in zip(results, posts):
        writer.writerow([r.name, *(f"{r.validated[k]:.6f}" for k in STRATEGIES),
                         *(f"{r.selection[k]:.6f}" for k in STRATEGIES), r.threshold, describe(r.counts, members),
                         f"{post.cv_without:.6f}", f"{post.cv_with:.6f}", describe_step(post.step)])
    writer.writerow(["mean", *(f"{np.mean([r.validated[k] for r in results]):.6f}" for k in STRATEGIES),
                     *(f"{np.mean([r.selection[k] for r in results]):.6f}" for k in STRATEGIES), "", "",
                     *(f"{np.mean([getattr(p, k) for p in posts]):.6f}" for k in ("cv_without", "cv_with")), ""])
    atomic.write_text(path, buffer.getvalue())


def tune_ensemble(config: EnsembleConfig, out: Path, quiet: bool = False) -> Tuning:
    """Write the weights file `out` and, beside it, `<out>_cv.csv` with the cross-validated table."""
    atomic.check_target(out)
    sources = oof_sources(config)
    refuse_among_labels(out, sources)
    names = sources.common_names()
    folds = np.array([sources.folds[name] for name in names])
    if len(np.unique(folds)) < 2:
        raise UserError("tune-ensemble cross-validates over folds: the first member has OOF images from "
                        "only one fold; train at least 2 folds")
    members = [entry.path for entry in config.member_entries()]
    reader = OofReader(sources, names, quiet)
    results, posts = [], []
    for channel, name in enumerate(tqdm(reader.classes, desc="select", unit="class", disable=quiet)):
        oof = reader.read_class(channel)
        results.append(tune_class(oof, name, folds))
        votes, truths, ignores = oof.image_votes(results[-1].counts, reader.grids)
        posts.append(choose_postprocess(votes, results[-1].threshold, truths, folds, reader.metric, ignores))
    counts = np.array([r.counts for r in results], np.float64).T
    per_image = {k: mean_scored(np.array([r.held_out[k] for r in results]), 0) for k in ("best_member", "tuned")}
    scored = np.isfinite(per_image["best_member"]) & np.isfinite(per_image["tuned"])  # images the metric scores
    gain = paired_bootstrap(per_image["best_member"][scored], per_image["tuned"][scored],
                            np.array(reader.groups)[scored])
    table_file = out.with_name(f"{out.stem}_cv.csv")
    write_table(table_file, members, results, posts)
    summary = {"oof_images": len(names), "folds": sorted(int(f) for f in np.unique(folds)),
               "cv_table": table_file.name,
               **{f"cv_dice_{k}": float(np.mean([r.validated[k] for r in results])) for k in STRATEGIES},
               **{f"selection_dice_{k}": float(np.mean([r.selection[k] for r in results])) for k in STRATEGIES},
               "cv_gain_over_best_member": asdict(gain),
               "postprocess": {name: post.step.model_dump(mode="json") for name, post in zip(reader.classes, posts)
                               if post.step.step != PostStep.NONE}}
    write_weights(out, members, reader.classes, counts / counts.sum(0), np.array([r.threshold for r in results]),
                  summary)
    return Tuning(out, table_file, members, results, posts, gain)
