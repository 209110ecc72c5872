"""Every command's bad inputs: one line naming the file, row or key, exit code 2, nothing created.

Each case builds its inputs under a fresh folder, runs the CLI as a user would, and checks the
message, the exit code, and that the folder holds exactly what it held before the command ran."""
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from data import get_task
from data.splits import make_splits, write_splits
from submit.submission import write_submission
from tests.stubs import make_stub_run

ROOT = Path(__file__).resolve().parents[1]
KVASIR_TINY = ROOT / "configs/kvasir/tiny.yaml"
ENSEMBLE_KVASIR = ROOT / "configs/ensemble/kvasir.yaml"


@dataclass
class Inputs:
    """Paths a case may use; builders create only what they need."""

    work: Path
    handbone: Path
    kvasir: Path

    def splits(self) -> Path:
        path = self.work / "splits.json"
        if not path.exists():
            write_splits(make_splits(get_task("kvasir", self.kvasir), k=2), path)
        return path

    def train(self, *overrides: str) -> list[str]:
        return ["train-fold", "--config", str(KVASIR_TINY), "--fold", "0", "--set", f"data.root={self.kvasir}",
                f"data.splits={self.splits()}", f"run.dir={self.work / 'run'}", *overrides]

    def trained(self) -> Path:
        """One epoch of the tiny Kvasir member, trained in-process; its run folder."""
        from configs.load import load_config
        from configs.schema import MemberConfig
        from folds.train import train_fold
        config = load_config(KVASIR_TINY, MemberConfig, self.train()[6:] + ["train.epochs=1"])
        return train_fold(config, fold=0, quiet=True).run_dir

    def member(self) -> Path:
        path = self.work / "m" / "fold0"
        if not path.exists():
            make_stub_run(path, "kvasir", ("polyp",), size=32, seed=0)
        return path

    def ensemble(self, *overrides: str, members: str | None = None) -> list[str]:
        return ["ensemble", "--config", str(ENSEMBLE_KVASIR), "--set", f"members=[{members or self.member()}]",
                f"data.root={self.kvasir / 'test'}", f"output.csv={self.work / 'out.csv'}", *overrides]

    def csv(self, name: str = "sub.csv", masks=None) -> Path:
        """A valid Kvasir submission for the test images."""
        path = self.work / name
        names = sorted(p.name for p in (self.kvasir / "test" / "images").iterdir())
        with write_submission(path, ("polyp",)) as writer:
            for image_name in names:
                writer.write_image(image_name, np.zeros((1, 64, 64), bool) if masks is None else masks)
        return path

    def edited_csv(self, edit: Callable[[list[str]], list[str]]) -> Path:
        path = self.csv("edited.csv")
        path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
        return path

    def validate(self, csv: Path) -> list[str]:
        return ["validate", "--task", "kvasir", "--csv", str(csv), "--images", str(self.kvasir / "test")]

    def handbone_copy(self, bad_label: str | None = None) -> Path:
        target = self.work / "hb"
        shutil.copytree(self.handbone, target)
        if bad_label:
            for label in (target / "train" / "outputs_json").rglob("*.json"):
                edit_json(label, lambda raw: raw["annotations"][0].update(label=bad_label))
        return target

    def handbone_csv(self) -> Path:
        """Empty masks for every labelled hand-bone image."""
        task = get_task("handbone", self.handbone)
        path = self.work / "hb.csv"
        with write_submission(path, task.classes) as writer:
            for case in task.labelled_cases():
                writer.write_image(Path(case).name, np.zeros((29, 128, 128), bool))
        return path


def corrupt(path: Path, content: bytes = b"\x00garbage") -> Path:
    path.write_bytes(content)
    return path


def edit_json(path: Path, change: Callable[[dict], None]) -> Path:
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw))
    return path


def empty_kvasir(root: Path) -> Path:
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    return root


CASES: list[tuple[str, Callable[[Inputs], list[str]], str]] = [
    # split
    ("split: data root missing", lambda i: ["split", "--task", "kvasir", "--data-root", str(i.work / "nope")],
     "data root is not a folder"),
    ("split: k above the patients", lambda i: ["split", "--task", "handbone", "--data-root", str(i.handbone),
                                               "--k", "9", "--out", str(i.work / "s.json")], "--k 9"),
    ("split: k of 1", lambda i: ["split", "--task", "kvasir", "--data-root", str(i.kvasir), "--k", "1",
                                 "--out", str(i.work / "s.json")], "--k: 1: expected int in [2, "),
    ("split: empty data set", lambda i: ["split", "--task", "kvasir", "--data-root", str(empty_kvasir(i.work / "empty")),
                                         "--out", str(i.work / "s.json")], "no images found"),
    ("split: release for handbone", lambda i: ["split", "--task", "handbone", "--data-root", str(i.handbone),
                                               "--method", "release", "--out", str(i.work / "s.json")],
     "only for kvasir"),
    ("split: --out names a folder", lambda i: ["split", "--task", "kvasir", "--data-root", str(i.kvasir),
                                               "--k", "2", "--out", str(i.work)], "is a folder"),
    ("split: label JSON without PNG", lambda i: ["split", "--task", "handbone", "--data-root", str(
        (lambda root: (next((root / "train" / "DCM").rglob("*.png")).unlink(), root)[1])(i.handbone_copy())),
        "--out", str(i.work / "s.json")], "label without image"),
    ("split: PNG without label JSON", lambda i: ["split", "--task", "handbone", "--data-root", str(
        (lambda root: (next((root / "train" / "outputs_json").rglob("*.json")).unlink(), root)[1])(i.handbone_copy())),
        "--out", str(i.work / "s.json")], "image without label JSON"),
    ("score: unknown bone label", lambda i: ["score", "--task", "handbone", "--csv", str(i.handbone_csv()),
                                             "--data-root", str(i.handbone_copy(bad_label="Femur"))],
     "unknown label 'Femur'"),
    # synth
    ("synth: size 0", lambda i: ["synth", "--task", "kvasir", "--out", str(i.work / "s"), "--size", "0"], "--size"),
    ("synth: onto a folder it did not make", lambda i: ["synth", "--task", "kvasir", "--out",
                                                        str(((i.work / "mine").mkdir() or corrupt(i.work / "mine" / "keep.jpg")).parent)],
     "was not made by synth"),
    ("synth: onto a file", lambda i: ["synth", "--task", "kvasir", "--out", str(corrupt(i.work / "f.txt"))], "is a file"),
    ("ensemble: masks folder it did not make", lambda i: i.ensemble(
        f"output.masks_dir={((i.work / 'masks').mkdir() or corrupt(i.work / 'masks' / 'keep.png')).parent}"),
     "was not made by ensemble"),
    ("vote: --out is one of the CSVs", lambda i: ["vote", "--csv", str(i.csv()), str(i.csv("b.csv")), "--min-votes",
                                                 "1", "--out", str(i.csv())], "also an input"),
    ("merge: --out is one of the parts", lambda i: ["merge", "--csv", str(i.csv()), "--out", str(i.csv())],
     "also an input"),
    ("ensemble: output.csv is its thresholds file", lambda i: i.ensemble(
        f"thresholds={corrupt(i.work / 't.json', json.dumps({'thresholds': {'polyp': 0.5}}).encode())}",
        f"output.csv={i.work / 't.json'}"), "also an input"),
    ("tune-thresholds: --out is its config", lambda i: ["tune-thresholds", "--config", str(corrupt(
        i.work / "e.yaml", ENSEMBLE_KVASIR.read_bytes())), "--out", str(i.work / "e.yaml")], "also an input"),
    ("synth: count 0", lambda i: ["synth", "--task", "handbone", "--out", str(i.work / "s"), "--count", "0"],
     "--count"),
    # train-fold: config
    ("train: config missing", lambda i: ["train-fold", "--config", str(i.work / "none.yaml"), "--fold", "0"],
     "cannot read config"),
    ("train: config not YAML", lambda i: ["train-fold", "--config", str(corrupt(i.work / "c.yaml", b"a: [1")),
                                          "--fold", "0"], "not valid YAML"),
    ("train: unknown key", lambda i: i.train("train.epoch=3"), "train.epoch: unknown key"),
    ("train: wrong type", lambda i: i.train("train.epochs=many"), "train.epochs"),
    ("train: --set value not YAML", lambda i: i.train("train.loss={dice: [1"), "--set train.loss"),
    ("train: --set without =", lambda i: i.train("train.epochs"), "--set needs key=value"),
    ("train: image size not divisible by 32", lambda i: i.train("data.image_size=100"), "data.image_size"),
    ("train: unknown loss", lambda i: i.train("train.loss={hinge: 1}"), "unknown loss term 'hinge'"),
    ("train: crops without sliding window", lambda i: i.train("data.sampling=crops"), "sliding_window"),
    ("train: negative learning rate", lambda i: i.train("optim.lr=-1"), "optim.lr"),
    ("train: yolo key on a torch member", lambda i: i.train("model.box_prior=0.5"),
     "model.box_prior: a yolov8-seg key; effisegnet-b0 does not read it"),
    ("train: box prior past ultralytics' start", lambda i: i.train("model.name=yolov8-seg", "model.box_prior=8"),
     "model.box_prior"),
    # train-fold: model options the libraries reject, devices
    ("train: unknown model", lambda i: i.train("model.name=unet9"), "model.name: unknown model 'unet9'"),
    ("train: unknown smp encoder", lambda i: i.train("model.name=unetplusplus", "model.params={encoder_name: resnet999}"),
     "model.params"),
    ("train: unknown timm encoder", lambda i: i.train("model.name=unetplusplus",
                                                      "model.params={encoder_name: tu-nonexistent_net}"), "model.params"),
    ("train: swinunetr feature_size", lambda i: i.train("model.name=swinunetr", "model.params={feature_size: 10}"),
     "feature_size"),
    ("train: unknown model option", lambda i: i.train("model.params={depth: 3}"),
     "model.params: depth: model 'effisegnet-b0' has no option 'depth'; it takes ch, "),
    ("train: model option of the wrong type", lambda i: i.train("model.params={ch: wide}"),
     "model.params: ch: model 'effisegnet-b0' expects int"),
    ("train: smp option values smp refuses", lambda i: i.train("model.name=unetplusplus",
                                                               "model.params={encoder_depth: 3}"),
     "model.params: smp UnetPlusPlus: Model depth is 3, but you provide `decoder_channels` for 5 blocks"),
    ("train: smp option smp forwards to the encoder", lambda i: i.train("model.name=smp", "model.params={depth: 3}"),
     "model.params: depth: smp Unet has no option 'depth'"),
    ("train: num_classes in params", lambda i: i.train("model.params={num_classes: 3}"), "model.params.num_classes"),
    ("train: cuda absent", lambda i: i.train("train.device=cuda"), "train.device"),
    ("train: unknown device", lambda i: i.train("train.device=tpu7"), "train.device"),
    ("train: weights file missing", lambda i: i.train(f"model.weights={i.work / 'w.safetensors'}"), "weights file not found"),
    # train-fold: splits and folds
    ("train: fold out of range", lambda i: i.train()[:4] + ["7"] + i.train()[5:], "fold 7 does not exist"),
    ("train: splits file missing", lambda i: i.train(f"data.splits={i.work / 'none.json'}"), "cannot read splits file"),
    ("train: splits not JSON", lambda i: i.train(f"data.splits={corrupt(i.work / 'bad.json')}"), "bad splits file"),
    ("train: splits with an empty train list", lambda i: i.train(f"data.splits={edit_json(i.splits(), lambda raw: raw['folds'][0].update(train=[]))}"),
     "folds.0.train: List should have at least 1 item"),
    ("train: splits naming a missing image", lambda i: i.train(f"data.splits={edit_json(i.splits(), lambda raw: raw['folds'][0]['val'].append('train/images/999.jpg'))}"),
     "train/images/999.jpg"),
    ("train: splits of another task", lambda i: i.train(f"data.splits={edit_json(i.splits(), lambda raw: raw.update(task='handbone'))}"),
     "holds handbone folds"),
    ("train: already trained, no --resume", lambda i: (i.trained(), i.train())[1], "already holds a trained model"),
    ("train: --resume after the model changed", lambda i: (i.trained(), i.train("train.epochs=1", "model.params={ch: 16}") + ["--resume"])[1],
     "model.params"),
    ("train: --resume after the loss changed", lambda i: (i.trained(), i.train("train.epochs=1", "train.loss={dice: 1}") + ["--resume"])[1],
     "train.loss"),
    ("train: corrupt resume state", lambda i: (corrupt(i.trained() / "optimizer.pt"), i.train("train.epochs=1") + ["--resume"])[1],
     "cannot resume"),
    # ensemble
    ("ensemble: glob matching nothing", lambda i: i.ensemble(members=str(i.work / "nothing*")), "matches no run folder"),
    ("ensemble: empty test folder", lambda i: i.ensemble(f"data.root={empty_kvasir(i.work / 'e')}"), "no images found"),
    ("ensemble: corrupt model.safetensors", lambda i: (corrupt(i.member() / "model.safetensors"), i.ensemble())[1],
     "model.safetensors"),
    ("ensemble: state.json not JSON", lambda i: (corrupt(i.member() / "state.json"), i.ensemble())[1], "state.json"),
    ("ensemble: member of another task", lambda i: (edit_json(i.member() / "state.json", lambda raw: raw.update(classes=["Radius"])),
                                                    i.ensemble())[1], "other classes"),
    ("ensemble: checkpoint of another architecture",
     lambda i: (edit_json(i.member() / "state.json", lambda raw: raw["config"].update(model={"name": "effisegnet-b0", "params": {"ch": 8}})),
                i.ensemble())[1], "another architecture"),
    ("ensemble: threshold above 1", lambda i: i.ensemble("thresholds=1.5"), "thresholds"),
    ("ensemble: thresholds file missing", lambda i: i.ensemble(f"thresholds={i.work / 't.json'}"), "cannot read thresholds file"),
    ("ensemble: thresholds file without the class", lambda i: i.ensemble(
        f"thresholds={corrupt(i.work / 't.json', json.dumps({'thresholds': {'other': 0.5}}).encode())}"), "polyp"),
    ("ensemble: thresholds file value outside [0, 1]", lambda i: i.ensemble(
        f"thresholds={corrupt(i.work / 't.json', json.dumps({'thresholds': {'polyp': -0.2}}).encode())}"),
     "thresholds.polyp: Input should be greater than or equal to 0"),
    ("ensemble: cuda absent", lambda i: i.ensemble("device=cuda"), "device"),
    ("ensemble: output CSV names a folder", lambda i: i.ensemble(f"output.csv={(i.work / 'dir').mkdir() or i.work / 'dir'}"),
     "is a folder"),
    # validate / score / vote / analyze: CSVs
    ("csv: missing file", lambda i: i.validate(i.work / "none.csv"), "cannot read CSV"),
    ("csv: empty file", lambda i: i.validate(corrupt(i.work / "e.csv", b"")), "header must be"),
    ("csv: wrong header", lambda i: i.validate(i.edited_csv(lambda lines: ["name,class,rle"] + lines[1:])), "header must be"),
    ("csv: missing row", lambda i: i.validate(i.edited_csv(lambda lines: lines[:-1])), "missing row"),
    ("csv: duplicated row", lambda i: i.validate(i.edited_csv(lambda lines: lines + [lines[1]])), "duplicate row"),
    ("csv: row of another image", lambda i: i.validate(i.edited_csv(lambda lines: lines + ["99.jpg,polyp,"])),
     "'99.jpg' is not in the test images"),
    ("csv: unknown class", lambda i: i.validate(i.edited_csv(lambda lines: [lines[0], lines[1].replace(",polyp,", ",tumour,")] + lines[2:])),
     "unknown class 'tumour'"),
    ("csv: two columns", lambda i: i.validate(i.edited_csv(lambda lines: [lines[0], "0.jpg,polyp"] + lines[2:])),
     "expected 3 columns"),
    ("csv: odd RLE", lambda i: i.validate(i.edited_csv(lambda lines: [lines[0], lines[1] + "1 2 3"] + lines[2:])),
     "odd number"),
    ("csv: RLE past the image", lambda i: i.validate(i.edited_csv(lambda lines: [lines[0], lines[1] + "4096 2"] + lines[2:])),
     "past the image"),
    ("csv: RLE integer beyond int64", lambda i: i.validate(i.edited_csv(lambda lines: [lines[0], lines[1] + "1 99999999999999999999"] + lines[2:])),
     "too large"),
    ("csv: not UTF-8", lambda i: i.validate(corrupt(i.work / "latin.csv", "image_name,class,rle\nä.jpg,polyp,\n".encode("latin-1"))),
     "not UTF-8"),
    ("csv: NUL byte", lambda i: i.validate(corrupt(i.work / "nul.csv", b"image_name,class,rle\n0.jpg,po\x00lyp,\n")), "line 2"),
    ("score: image without label", lambda i: ["score", "--task", "kvasir", "--csv", str(i.csv()), "--data-root",
                                              str(i.kvasir / "train")], "has no label"),
    ("vote: min-votes above the CSVs", lambda i: ["vote", "--csv", str(i.csv()), "--min-votes", "2", "--out",
                                                  str(i.work / "v.csv")], "--min-votes"),
    ("vote: --out names a folder", lambda i: ["vote", "--csv", str(i.csv()), "--min-votes", "1", "--out", str(i.work)],
     "is a folder"),
    ("analyze: --out is a file", lambda i: ["analyze", "--task", "kvasir", "--csv", str(i.csv()), "--data-root",
                                            str(i.kvasir / "test"), "--out", str(i.csv("x.csv"))], "x.csv"),
    # demo
    ("demo: workdir it did not make", lambda i: ["demo", "--workdir", str((i.work / "mine").mkdir() or
                                                                        corrupt(i.work / "mine" / "keep.txt").parent)],
     "was not made by demo"),
]


@pytest.mark.parametrize("name, build, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_creates_nothing(name, build, fragment, tmp_path, handbone_root, kvasir_root,
                                                          run_cli):
    inputs = Inputs(tmp_path / "work", handbone_root, kvasir_root)
    inputs.work.mkdir()
    argv = build(inputs)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, out, err = run_cli("--quiet", *argv)
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert code == 2, f"exit {code}: {err or out}"
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert fragment in err, err
    assert after == before, f"created: {sorted(set(after) - set(before))}"
