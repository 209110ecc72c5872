"""The ensemble across hospitals, through the CLI (resumable: rerun the same command and finished steps are
skipped). Each member config is trained on all 800 Kvasir-SEG `train` images (the release split; `validation`
scored once, after the last epoch) or its finished run reused; then every member alone and their uniform vote
predict each domain -- Kvasir-SEG `validation` (the source hospital) and CVC-ColonDB (another hospital, never
trained on) -- with the ensemble config's TTA, and `compare` gives the vote against each member, per domain.
`--alone` configs are trained and scored too, outside the vote (a lever's control, say).

    python bench/kvasir_domains.py --members configs/kvasir/zoo/robust60/*.yaml \\
        --alone configs/kvasir/zoo/tuned/lite1_fpn_256.yaml
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from cli_steps import ROOT, images_per_second, run, training_minutes, write_table

from configs.load import load_config
from configs.schema import MemberConfig
from evaluate.score import score_csv
from models.run_folder import RunFolder

SPLITS = ROOT / "runs/kvasir_release_splits.json"


def train(config: Path, data: Path) -> Path:
    """The member's fold-0 run folder, trained (or continued) to its end on the release split."""
    folder = load_config(config, MemberConfig).run.dir / "fold0"
    if not ((folder / "state.json").is_file() and RunFolder(folder).state().oof_done):
        resume = ["--resume"] if (folder / "optimizer.pt").is_file() else []
        run("train-fold", "--config", config, "--fold", 0, *resume, "--set", f"data.root={data}",
            f"data.splits={SPLITS}", "run.tensorboard=false")
    return folder


def predict(out: Path, name: str, folders: list[Path], tta: str, images: Path, scales: list[float]) -> Path:
    """`out/<name>.csv`: the uniform vote of `folders` (one folder: the member alone) on `images/`."""
    csv_path = out / f"{name}.csv"
    if not csv_path.is_file():
        members = json.dumps([{"path": str(f), "tta": tta, "tta_scales": scales} for f in folders])
        run("ensemble", "--config", ROOT / "configs/ensemble/kvasir_robust.yaml", "--set", f"members={members}",
            f"data.root={images}", f"output.csv={csv_path}", "output.masks_dir=null", "cache_dir=null")
    return csv_path


def compare_rows(domain: str, root: Path, vote: Path, others: dict[str, Path], out: Path) -> list[dict]:
    """`compare` of the vote against each other CSV on one domain (diff = vote - member)."""
    rows = []
    for name, other in others.items():
        table = out / f"compare_vote_vs_{name}.csv"
        if not table.is_file():
            run("compare", "--task", "kvasir", "--data-root", root, "--csv", other, vote, "--out", table)
        with open(table, newline="") as handle:
            row = next(csv.DictReader(handle))
        rows.append({"domain": domain, "member": name, "member_dice": round(float(row["mean_a"]), 4),
                     "vote_dice": round(float(row["mean_b"]), 4), "diff": round(float(row["diff"]), 4),
                     "ci_low": round(float(row["ci_low"]), 4), "ci_high": round(float(row["ci_high"]), 4)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", nargs="+", required=True, help="member configs of the vote")
    parser.add_argument("--alone", nargs="*", default=[], help="member configs scored alone, outside the vote")
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/kvasir-seg"))
    parser.add_argument("--other", default=str(ROOT.parent / "shared/data/cvc-colondb"),
                        help="another hospital's images/ + masks/ (never trained on)")
    parser.add_argument("--tta", default="flips")
    parser.add_argument("--tta-scales", type=float, nargs="+", default=[1.0], help="input scales, averaged")
    parser.add_argument("--out", default=str(ROOT / "bench_out/kvasir_domains"))
    parser.add_argument("--train-only", action="store_true")
    args = parser.parse_args()
    data, out = Path(args.data).resolve(), Path(args.out).resolve()
    if not SPLITS.is_file():
        run("split", "--task", "kvasir", "--data-root", data, "--method", "release", "--out", SPLITS)
    voters = {Path(c).stem: train(Path(c), data) for c in args.members}
    alone = {Path(c).stem + "-alone": train(Path(c), data) for c in args.alone}
    if args.train_only:
        return
    domains = {"kvasir-validation": data / "validation", "cvc-colondb": Path(args.other).resolve()}
    scores, compares = [], []
    for domain, root in domains.items():
        csvs = {name: predict(out / domain, name, [folder], args.tta, root, args.tta_scales)
                for name, folder in {**voters, **alone}.items()}
        vote = predict(out / domain, "vote", list(voters.values()), args.tta, root, args.tta_scales)
        for name, csv_path in {**csvs, "vote": vote}.items():
            used = [voters.get(name) or alone.get(name)] if name != "vote" else list(voters.values())
            report = score_csv("kvasir", csv_path, root, quiet=True)
            scores.append({"domain": domain, "entry": name, "dice": round(report.mean_dice, 4),
                           "train_minutes": round(sum(map(training_minutes, used)), 1),
                           "images_per_s": round(min(map(images_per_second, used)), 2)})
            print(json.dumps(scores[-1]), flush=True)
        compares += compare_rows(domain, root, vote, csvs, out / domain)
    write_table(out / "scores.csv", scores)
    write_table(out / "compare.csv", compares)
    print(out / "compare.csv")


if __name__ == "__main__":
    main()
