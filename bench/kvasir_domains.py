"""The ensemble across hospitals, through the CLI (resumable: rerun the same command and finished steps are
skipped). Each member config is trained on all 800 Kvasir-SEG `train` images (the release split; `validation`
scored once, after the last epoch) or its finished run reused; then every member alone and their uniform vote
predict each domain -- Kvasir-SEG `validation` (the source hospital) and CVC-ColonDB (another hospital, never
trained on) -- with the ensemble config's TTA, and `compare` gives the vote against each member, per domain.
`--alone` configs are trained and scored too, outside the vote (a lever's control, say).

With `--tune-folds`, every config is also trained on those folds of a k-fold split of `train` (run folder:
its `run.dir` + `_kfold`); `tune-ensemble` tunes the vote's weights, thresholds and post-processing on the
members' out-of-fold predictions, the same recipes trained on all of `train` vote with them ("vote-tuned"), and
each member and the vote are set against every `--alone` control on the first fold's held-out `train` images
(the in-domain cost of a lever, measured on folds, not on `validation`).

    python bench/kvasir_domains.py --members configs/kvasir/zoo/robust60/*.yaml \\
        --alone configs/kvasir/zoo/robust_candidates/lite2_unet_256_zoo_augment.yaml --tune-folds 0 1
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from cli_steps import ROOT, held_out_root, images_per_second, run, train_recipe, training_minutes, write_table

from configs.files import EnsembleWeights, read_model, write_model
from configs.load import load_config
from configs.schema import MemberConfig
from evaluate.score import score_csv

SPLITS = ROOT / "runs/kvasir_release_splits.json"
ENSEMBLE = ROOT / "configs/ensemble/kvasir_robust.yaml"


def run_dir(config: Path) -> Path:
    return load_config(config, MemberConfig).run.dir


def train(config: Path, data: Path) -> Path:
    """The member's fold-0 run folder, trained (or continued) to its end on the release split."""
    return train_recipe(config, data, SPLITS, run_dir(config), [0], [])[0]


def train_folds(config: Path, data: Path, splits: Path, folds: list[int]) -> list[Path]:
    """The recipe trained on `folds` of the k-fold split of `train` (run folder: its run.dir + `_kfold`)."""
    return train_recipe(config, data / "train", splits, Path(f"{run_dir(config)}_kfold"), folds, [])


def kfold_splits(data: Path, k: int) -> Path:
    splits = ROOT / f"runs/kvasir_train_k{k}_splits.json"
    if not splits.is_file():
        run("split", "--task", "kvasir", "--data-root", data / "train", "--k", k, "--seed", 0, "--out", splits)
    return splits


def tuned_weights(out: Path, fold_runs: list[list[Path]], finals: list[Path]) -> Path:
    """tune-ensemble's file over the members' fold runs, given to the same recipes trained on all of `train`
    (entry i of the fold runs is entry i of the final members)."""
    tuned, given = out / "tuned_weights.json", out / "tuned_weights_final.json"
    if not tuned.is_file():
        entries = json.dumps([str(folders[0].parent / "fold*") for folders in fold_runs])
        run("tune-ensemble", "--config", ENSEMBLE, "--set", f"members={entries}", "--out", tuned)
    document = read_model(tuned, EnsembleWeights, "weights file")
    renamed = dict(zip(document.members, map(str, finals)))
    write_model(given, document.model_copy(update={
        "members": list(renamed.values()),
        "weights": {c: {renamed[m]: w for m, w in per.items()} for c, per in document.weights.items()}}))
    return given


def predict(out: Path, name: str, folders: list[Path], tta: str, images: Path, scales: list[float],
            cache: Path | None, weights: Path | None = None) -> Path:
    """`out/<name>.csv`: the vote of `folders` (uniform, or by a weights file; one folder: the member alone);
    with `cache`, each member's probabilities are kept there and re-voted without its model."""
    csv_path = out / f"{name}.csv"
    if not csv_path.is_file():
        members = json.dumps([{"path": str(f), "tta": tta, "tta_scales": scales} for f in folders])
        run("ensemble", "--config", ENSEMBLE, "--set", f"members={members}", f"data.root={images}",
            f"output.csv={csv_path}", "output.masks_dir=null",
            f"cache_dir={cache.resolve() if cache else 'null'}", f"weights={weights or 'null'}")
    return csv_path


def compare_rows(domain: str, root: Path, pairs: list[tuple[str, str]], csvs: dict[str, Path],
                 out: Path) -> list[dict]:
    """`compare` of each pair (a, b) of entries on one domain: diff = b - a, with its 95% interval."""
    rows = []
    for a, b in pairs:
        table = out / f"compare_{b}_vs_{a}.csv"
        if not table.is_file():
            run("compare", "--task", "kvasir", "--data-root", root, "--csv", csvs[a], csvs[b], "--out", table)
        with open(table, newline="") as handle:
            row = next(csv.DictReader(handle))
        rows.append({"domain": domain, "a": a, "b": b, "a_dice": round(float(row["mean_a"]), 4),
                     "b_dice": round(float(row["mean_b"]), 4), "diff": round(float(row["diff"]), 4),
                     "ci_low": round(float(row["ci_low"]), 4), "ci_high": round(float(row["ci_high"]), 4)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def score_rows(domain: str, root: Path, csvs: dict[str, Path], used: dict[str, list[Path]]) -> list[dict]:
    rows = []
    for name, csv_path in csvs.items():
        report = score_csv("kvasir", csv_path, root, quiet=True)
        rows.append({"domain": domain, "entry": name, "dice": round(report.mean_dice, 4),
                     "train_minutes": round(sum(map(training_minutes, used[name])), 1),
                     "images_per_s": round(min(map(images_per_second, used[name])), 2)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def domain_entries(out: Path, root: Path, voters: dict[str, Path], alone: dict[str, Path], args: argparse.Namespace,
                   weights: Path | None) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """Every entry's CSV on one domain (each member alone, the uniform vote, the tuned vote) and its folders."""
    used = {name: [folder] for name, folder in {**voters, **alone}.items()}
    how = (args.tta, root, args.tta_scales, args.cache)
    csvs = {name: predict(out, name, folders, *how) for name, folders in used.items()}
    used["vote"] = list(voters.values())
    csvs["vote"] = predict(out, "vote", used["vote"], *how)
    if weights is not None:
        used["vote-tuned"] = used["vote"]
        csvs["vote-tuned"] = predict(out, "vote-tuned", used["vote"], *how, weights)
    return csvs, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", nargs="+", required=True, help="member configs of the vote")
    parser.add_argument("--alone", nargs="*", default=[], help="member configs scored alone, outside the vote")
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/kvasir-seg"))
    parser.add_argument("--other", default=str(ROOT.parent / "shared/data/cvc-colondb"),
                        help="another hospital's images/ + masks/ (never trained on)")
    parser.add_argument("--tta", default="flips")
    parser.add_argument("--tta-scales", type=float, nargs="+", default=[1.0], help="input scales, averaged")
    parser.add_argument("--tune-folds", type=int, nargs="*", default=[],
                        help="folds of a k-fold split of train: the vote tuned on their OOF (at least 2); the "
                             "--alone controls trained on the first, for the in-domain cost")
    parser.add_argument("--k", type=int, default=4, help="folds of that split (seed 0)")
    parser.add_argument("--out", default=str(ROOT / "bench_out/kvasir_domains"))
    parser.add_argument("--cache", type=Path, default=None,
                        help="keep member probabilities here, shared by every entry and run (CSVs byte-equal "
                             "without it): the vote re-reads what each member alone predicted")
    parser.add_argument("--train-only", action="store_true")
    args = parser.parse_args()
    data, out = Path(args.data).resolve(), Path(args.out).resolve()
    if not SPLITS.is_file():
        run("split", "--task", "kvasir", "--data-root", data, "--method", "release", "--out", SPLITS)
    voters = {Path(c).stem: train(Path(c), data) for c in args.members}
    alone = {Path(c).stem + "-alone": train(Path(c), data) for c in args.alone}
    if args.tune_folds:
        splits = kfold_splits(data, args.k)
        fold_voters = {Path(c).stem: train_folds(Path(c), data, splits, args.tune_folds) for c in args.members}
        fold_alone = {Path(c).stem + "-alone": train_folds(Path(c), data, splits, args.tune_folds[:1])
                      for c in args.alone}
    if args.train_only:
        return
    weights = tuned_weights(out, list(fold_voters.values()), list(voters.values())) if args.tune_folds else None
    domains = {"kvasir-validation": (data / "validation", voters, alone, weights),
               "cvc-colondb": (Path(args.other).resolve(), voters, alone, weights)}
    if args.tune_folds:
        fold = args.tune_folds[0]
        domains[f"kvasir-train-fold{fold}"] = (
            held_out_root(splits, data / "train", out, fold), {n: f[0] for n, f in fold_voters.items()},
            {n: f[0] for n, f in fold_alone.items()}, None)
    scores, compares = [], []
    for domain, (root, members, controls, tuned) in domains.items():
        csvs, used = domain_entries(out / domain, root, members, controls, args, tuned)
        scores += score_rows(domain, root, csvs, used)
        pairs = [(name, "vote") for name in {**members, **controls}]
        pairs += [("vote", "vote-tuned"), *((name, "vote-tuned") for name in members)] if tuned else []
        pairs += [(control, entry) for control in controls for entry in [*members, "vote"]]
        compares += compare_rows(domain, root, list(dict.fromkeys(pairs)), csvs, out / domain)
    write_table(out / "scores.csv", scores)
    write_table(out / "compare.csv", compares)
    print(out / "compare.csv")


if __name__ == "__main__":
    main()
