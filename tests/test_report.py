"""`analyze`: per-class Dice, confusion and boundary error against hand-computed values; the page and
every file it links; member comparison and training curves from run folders."""
import csv
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from data import get_task
from evaluate.counts import COMPETITION_EPS
from models.run_folder import RunFolder
from submit.submission import write_submission
from tests.stubs import make_stub_run


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, task, cases: list[str], masks_of) -> Path:
    with write_submission(path, task.classes) as writer:
        for case in cases:
            writer.write_image(Path(case).name, masks_of(case))
    return path


def square(top: int, left: int, side: int = 10, size: int = 40) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[top:top + side, left:left + side] = True
    return mask


def edge_by_loops(mask: np.ndarray) -> list[tuple[int, int]]:
    """Pixels of the mask with a 4-neighbour outside it, found one by one."""
    height, width = mask.shape
    out = []
    for r in range(height):
        for c in range(width):
            if mask[r, c] and any(not (0 <= r + dr < height and 0 <= c + dc < width) or not mask[r + dr, c + dc]
                                  for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))):
                out.append((r, c))
    return out


def test_boundary_error_and_dice_of_a_shifted_square_equal_the_hand_computed_values(tmp_path, run_cli):
    """Truth: rows and columns 10-19; prediction: the same square moved 3 columns right."""
    root = tmp_path / "squares"
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    cv2.imwrite(str(root / "images" / "a.png"), np.full((40, 40, 3), 90, np.uint8))
    cv2.imwrite(str(root / "masks" / "a.png"), square(10, 10).astype(np.uint8) * 255)
    task = get_task("kvasir", root)
    csv_path = write_csv(tmp_path / "shifted.csv", task, task.labelled_cases(), lambda c: square(10, 13)[None])
    code, out, err = run_cli("--quiet", "analyze", "--task", "kvasir", "--csv", csv_path, "--data-root", root,
                             "--out", tmp_path / "report", "--near", "1")
    assert code == 0, err
    row = read_rows(tmp_path / "report" / "per_class.csv")[0]
    # overlap 10 rows x 7 columns of two 100-pixel squares
    assert float(row["dice"]) == pytest.approx((140 + COMPETITION_EPS) / (200 + COMPETITION_EPS), abs=1e-6)
    # 60 wrong pixels: truth columns 10-12 and prediction columns 20-22. Within 1 px of the true boundary:
    # column 10 (all on it), column 11 (all), column 12 rows 10, 11, 18, 19 only, column 20 (all): 34
    assert float(row["wrong_within_1px"]) == pytest.approx(34 / 60, abs=1e-6)
    truth_edge, pred_edge = np.array(edge_by_loops(square(10, 10))), np.array(edge_by_loops(square(10, 13)))
    gaps = np.sqrt(((truth_edge[:, None, :] - pred_edge[None, :, :]) ** 2).sum(-1))
    symmetric_mean = (gaps.min(0).sum() + gaps.min(1).sum()) / (len(truth_edge) + len(pred_edge))
    assert float(row["boundary_distance_px"]) == pytest.approx(symmetric_mean, abs=1e-3)


@pytest.fixture(scope="module")
def two_csvs(handbone_root, tmp_path_factory):
    """A: class 1's prediction is class 0's truth (the rest right); B: every class shifted by 2 px."""
    work = tmp_path_factory.mktemp("report")
    task = get_task("handbone", handbone_root)
    cases = task.labelled_cases()

    def swapped(case):
        masks = task.read_mask(case).copy()
        masks[1] = masks[0]
        return masks

    a = write_csv(work / "a.csv", task, cases, swapped)
    b = write_csv(work / "b.csv", task, cases, lambda c: np.roll(task.read_mask(c), 2, axis=2))
    return work, task, cases, a, b, swapped


def test_per_class_dice_and_confusion_equal_counts_by_hand(two_csvs, run_cli):
    work, task, cases, a, b, swapped = two_csvs
    code, _, err = run_cli("--quiet", "analyze", "--task", "handbone", "--csv", a, b, "--data-root", task.root,
                           "--out", work / "ab", "--worst", "2")
    assert code == 0, err
    classes = len(task.classes)
    inside, predicted, dice = np.zeros((classes, classes)), np.zeros(classes), []
    for case in cases:
        truth, pred = task.read_mask(case), swapped(case)
        for j in range(classes):
            predicted[j] += pred[j].sum()
            for i in range(classes):
                inside[i, j] += np.logical_and(truth[i], pred[j]).sum()
        overlap = np.logical_and(truth, pred).sum((1, 2))
        dice.append((2 * overlap + COMPETITION_EPS) / (truth.sum((1, 2)) + pred.sum((1, 2)) + COMPETITION_EPS))
    per_class = read_rows(work / "ab" / "per_class.csv")
    assert [r["class"] for r in per_class] == list(task.classes)
    np.testing.assert_allclose([float(r["dice"]) for r in per_class], np.mean(dice, 0), atol=1e-6)
    assert float(per_class[0]["dice"]) == pytest.approx(1.0) and float(per_class[1]["dice"]) < 0.2
    confusion = read_rows(work / "ab" / "confusion.csv")
    table = np.array([[float(r[c]) for c in task.classes] for r in confusion])
    np.testing.assert_allclose(table, inside / np.maximum(predicted, 1)[None], atol=1e-6)
    assert table[0, 1] == pytest.approx(1.0)  # all of class 1's predictions lie in class 0's truth
    members = read_rows(work / "ab" / "members.csv")
    b_dice = [float(r["b"]) for r in members]
    for row, d in zip(members, b_dice):
        assert row["best"] == ("a" if float(row["a"]) >= d else "b")
    assert members[1]["best"] == "b" and members[0]["best"] == "a"


def linked_files(page: Path) -> list[str]:
    return re.findall(r'(?:href|src)="([^"]+)"', page.read_text())


def test_every_linked_file_exists_and_pngs_decode_to_their_sizes(two_csvs, run_cli, handbone_root):
    """With run folders too: their OOF thresholded, their log.csv plotted."""
    work, task, cases, a, b, swapped = two_csvs
    for fold in range(2):  # run folders whose OOF probabilities are the truth softened
        path = work / "runs" / f"fold{fold}"
        make_stub_run(path, "handbone", task.classes, size=128, seed=fold)  # its grid: the images' size
        run = RunFolder(path)
        state = run.state()
        state.config.data.root = handbone_root
        val = cases[fold::2]
        run.write_state(state.model_copy(update={"fold": fold, "val_cases": val, "oof_done": True}))
        for case in val:
            run.write_oof(Path(case).name, np.where(task.read_mask(case), 0.8, 0.1))
        run.write_log([{"epoch": e, "loss": 1 / e, "val_dice": 0.1 * e, "lr": 1e-3} for e in (1, 2, 3)])
    out = work / "page"
    code, stdout, err = run_cli("--quiet", "analyze", "--task", "handbone", "--csv", a, "--runs",
                                work / "runs" / "fold*", "--out", out, "--worst", "3")  # data root from the runs
    assert code == 0, err
    assert stdout.strip() == str(out / "index.html")
    links = linked_files(out / "index.html")
    assert {"per_class.csv", "per_image.csv", "confusion.csv", "members.csv", "per_class_dice.png",
            "dice_histogram.png", "confusion.png", "members.png"} <= set(links)
    assert sum(link.startswith("worst/") for link in set(links)) == 3
    assert sum(link.startswith("curves/") for link in set(links)) == 2
    for link in links:
        assert (out / link).is_file(), link
    for link in {name for name in links if name.endswith(".png")}:
        image = cv2.imread(str(out / link))
        assert image is not None, link
        if link.startswith("worst/"):  # truth | prediction, the 128-px image enlarged to 512, then the legend
            assert image.shape[1] == 2 * 512 and image.shape[0] > 512
        elif link.startswith("curves/"):
            assert image.shape[:2] == (300, 1000)
        elif link == "dice_histogram.png":
            assert image.shape[:2] == (300, 600)
    members = read_rows(out / "members.csv")
    assert [k for k in members[0]] == ["class", "a", "runs", "best"]
    assert all(float(r["runs"]) == pytest.approx(1.0) for r in members)  # 0.8 inside, 0.1 outside: exact


def test_report_of_large_images_zooms_on_the_worst_classes(tmp_path, run_cli):
    from data.synthetic import make_handbone

    root = make_handbone(tmp_path / "big", patients=1, test_patients=0, size=640, seed=3)
    task = get_task("handbone", root)
    csv_path = write_csv(tmp_path / "s.csv", task, task.labelled_cases(),
                         lambda c: np.roll(task.read_mask(c), 6, axis=1))
    code, _, err = run_cli("--quiet", "analyze", "--task", "handbone", "--csv", csv_path, "--data-root", root,
                           "--out", tmp_path / "r", "--worst", "1")
    assert code == 0, err
    overlay = cv2.imread(str(next((tmp_path / "r" / "worst").iterdir())))
    assert overlay.shape[1] == 2 * 640 and overlay.shape[0] > 640 + 256  # the views, the legend, a row of zooms


def test_analyze_without_inputs_or_labels_is_one_line(two_csvs, run_cli, tmp_path):
    work, task, *_ = two_csvs
    for argv, message in ((["--task", "handbone", "--data-root", task.root], "--csv or --runs"),
                          (["--task", "handbone", "--csv", work / "a.csv"], "--data-root"),
                          (["--task", "handbone", "--runs", tmp_path / "none*"], "matches no run folder")):
        code, _, err = run_cli("--quiet", "analyze", *argv, "--out", tmp_path / "r")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def tree(folder):
    return sorted((str(p.relative_to(folder)), p.read_bytes() if p.is_file() else b"") for p in folder.rglob("*"))


def test_the_report_folder_is_a_unit_it_claims(two_csvs, run_cli, tmp_path):
    """A folder analyze did not make is refused whole; a failing re-run leaves the earlier report as it was; a
    report aimed inside the data root is refused; a symlinked report folder is replaced as a link, nothing left."""
    work, task, _, a, b, _ = two_csvs
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("my page")
    code, _, err = run_cli("--quiet", "analyze", "--task", "handbone", "--csv", a, "--data-root", task.root,
                           "--out", mine)
    assert code == 2 and "was not made by analyze" in err and tree(mine) == [("index.html", b"my page")]

    report = tmp_path / "report"
    assert run_cli("--quiet", "analyze", "--task", "handbone", "--csv", a, b, "--data-root", task.root,
                   "--out", report)[0] == 0
    before = tree(report)
    broken = tmp_path / "broken.csv"
    broken.write_text(a.read_text().replace("finger-1,", "finger-1,1 2 3,", 1))  # odd RLE tokens
    code, _, err = run_cli("--quiet", "analyze", "--task", "handbone", "--csv", broken, "--data-root", task.root,
                           "--out", report)
    assert code == 2 and tree(report) == before

    code, _, err = run_cli("--quiet", "analyze", "--task", "handbone", "--csv", a, "--data-root", task.root,
                           "--out", task.root / "report")
    assert code == 2 and "inside" in err and not (task.root / "report").exists()

    target = tmp_path / "target"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    assert run_cli("--quiet", "analyze", "--task", "handbone", "--csv", a, "--data-root", task.root,
                   "--out", link)[0] == 0
    assert (link / "index.html").is_file() and not [p for p in tmp_path.iterdir() if p.name.startswith(".link.")
                                                    and not p.name.endswith("segzoo-analyze")]
