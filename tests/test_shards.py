"""Sharded ensembles through the CLI: partial CSVs + sidecars, merged in any order into the whole CSV."""
from pathlib import Path

import pytest

from data import get_task
from tests.stubs import make_conv_run

ROOT = Path(__file__).resolve().parents[1]


def ensemble_argv(task: str, member: Path, data_root: Path, csv: Path, *extra: str) -> list:
    return ["--quiet", "ensemble", "--config", ROOT / f"configs/ensemble/{task}.yaml", "--set", f"members=[{member}]",
            f"data.root={data_root}", f"output.csv={csv}", *extra]


@pytest.mark.parametrize("task, shards", [("kvasir", 3), ("handbone", 2)])
def test_merged_shards_equal_the_unsharded_csv_byte_for_byte(task, shards, kvasir_root, handbone_root, tmp_path,
                                                            run_cli):
    data_root = kvasir_root / "test" if task == "kvasir" else handbone_root
    classes = get_task(task, data_root).classes
    member = tmp_path / "m" / "fold0"
    make_conv_run(member, task, classes, image_size=64, seed=31)
    whole = tmp_path / "whole.csv"
    assert run_cli(*ensemble_argv(task, member, data_root, whole))[0] == 0
    parts = []
    for index in reversed(range(shards)):  # any order
        part = tmp_path / f"part{index}.csv"
        code, out, err = run_cli(*ensemble_argv(task, member, data_root, part, "--shard", f"{index}/{shards}"))
        assert code == 0, err
        assert Path(part.name + ".shard.json").name in {p.name for p in tmp_path.iterdir()}
        parts.append(part)
    lines = [len(p.read_text().splitlines()) - 1 for p in parts]
    assert sum(lines) == len(whole.read_text().splitlines()) - 1 and min(lines) > 0
    code, out, err = run_cli("merge", "--csv", *parts, "--out", tmp_path / "merged.csv")
    assert code == 0, err
    assert (tmp_path / "merged.csv").read_bytes() == whole.read_bytes()


@pytest.fixture
def kvasir_parts(kvasir_root, tmp_path, run_cli):
    """Three partial CSVs of one job, and one shard of a job over other images."""
    member = tmp_path / "m" / "fold0"
    make_conv_run(member, "kvasir", ("polyp",), image_size=64, seed=32)
    parts = []
    for index in range(3):
        parts.append(tmp_path / f"part{index}.csv")
        assert run_cli(*ensemble_argv("kvasir", member, kvasir_root / "test", parts[-1], "--shard", f"{index}/3"))[0] == 0
    foreign = tmp_path / "foreign.csv"
    assert run_cli(*ensemble_argv("kvasir", member, kvasir_root / "validation", foreign, "--shard", "1/3"))[0] == 0
    return parts, foreign


@pytest.mark.parametrize("case, fragment", [
    ("missing", "shard 2/3 is missing"),
    ("doubled", "shard 0/3 twice"),
    ("foreign", "another job"),
    ("no sidecar", "has no part1.csv.shard.json"),
])
def test_a_missing_doubled_or_foreign_shard_is_one_line_and_no_output(case, fragment, kvasir_parts, tmp_path, run_cli):
    parts, foreign = kvasir_parts
    chosen = {"missing": parts[:2], "doubled": [parts[0], parts[0], parts[1], parts[2]],
              "foreign": [parts[0], foreign, parts[2]], "no sidecar": parts}[case]
    if case == "no sidecar":
        (tmp_path / "part1.csv.shard.json").unlink()
    code, _, err = run_cli("merge", "--csv", *chosen, "--out", tmp_path / "merged.csv")
    assert code == 2 and err.count("\n") == 1 and fragment in err, err
    assert not (tmp_path / "merged.csv").exists()


def test_a_partial_with_a_row_of_another_shard_is_refused(kvasir_parts, tmp_path, run_cli):
    parts, _ = kvasir_parts
    lines = parts[0].read_text().splitlines()
    other = parts[1].read_text().splitlines()[1]
    parts[0].write_text("\n".join(lines + [other]) + "\n")
    code, _, err = run_cli("merge", "--csv", *parts, "--out", tmp_path / "merged.csv")
    assert code == 2 and "not in the test images" in err and not (tmp_path / "merged.csv").exists()


@pytest.mark.parametrize("text", ["3/3", "a/b", "1", "2/0"])
def test_bad_shard_flag_is_one_line(text, kvasir_root, tmp_path, run_cli):
    member = tmp_path / "m" / "fold0"
    make_conv_run(member, "kvasir", ("polyp",), image_size=64, seed=33)
    code, _, err = run_cli(*ensemble_argv("kvasir", member, kvasir_root / "test", tmp_path / "p.csv", "--shard", text))
    assert code == 2 and "--shard" in err and not (tmp_path / "p.csv").exists()
