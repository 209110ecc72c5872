import contextlib
import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", tempfile.mkdtemp(prefix="hypothesis-"))  # not the checkout
from hypothesis import settings  # noqa: E402

# "suite" (the default, what CI runs): the same examples on every run, so a red run is reproducible;
# HYPOTHESIS_PROFILE=explore draws new examples each run (and five times as many) to hunt for new failures.
settings.register_profile("suite", database=None, derandomize=True, max_examples=150)
settings.register_profile("explore", database=None, max_examples=750)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

from configs.load import load_config  # noqa: E402
from configs.schema import MemberConfig  # noqa: E402
from data import get_task  # noqa: E402
from data.splits import make_splits, write_splits  # noqa: E402
from data.synthetic import make_handbone, make_handbone_holdout, make_kvasir  # noqa: E402
from folds.train import FoldResult, train_fold  # noqa: E402
from models.registry import registered  # noqa: E402
from tests.stubs import STUB_MODELS  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def stub_models():
    """The stub models in the registry while tests run, removed afterwards."""
    with contextlib.ExitStack() as stack:
        for name, constructor in STUB_MODELS.items():
            stack.enter_context(registered(name, constructor))
        yield


@pytest.fixture(scope="session")
def handbone_root(tmp_path_factory) -> Path:
    """4 labelled patients (8 hands) + 1 test patient at 128 px."""
    return make_handbone(tmp_path_factory.mktemp("handbone"), patients=4, test_patients=1, size=128, seed=1)


@pytest.fixture(scope="session")
def kvasir_root(tmp_path_factory) -> Path:
    return make_kvasir(tmp_path_factory.mktemp("kvasir"), train=12, validation=4, test=4, size=64, seed=2)


@pytest.fixture(scope="session")
def hands(tmp_path_factory):
    """Six patients at 256 px split into two folds by patient, and a two-patient holdout."""
    work = tmp_path_factory.mktemp("hands")
    data = make_handbone(work / "data", patients=6, test_patients=0, size=256, seed=5)
    holdout = make_handbone_holdout(work / "holdout", patients=2, size=256, seed=6)
    write_splits(make_splits(get_task("handbone", data), k=2), work / "splits.json")
    return work, data, holdout


@pytest.fixture(scope="session")
def hand_config(hands):
    """`configs/handbone/<name>.yaml` on the `hands` folds, its run folder `<work>/<name>`, with overrides."""
    work, data, _ = hands

    def config(name: str, *overrides: str) -> MemberConfig:
        return load_config(ROOT / f"configs/handbone/{name}.yaml", MemberConfig,
                           [f"data.root={data}", f"data.splits={work / 'splits.json'}", f"run.dir={work / name}",
                            *overrides])

    return config


@pytest.fixture(scope="session")
def swin_run(hand_config) -> FoldResult:
    """The tiny SwinUNETR member at 128 px, its config's own epochs, fold 0 of `hands`."""
    return train_fold(hand_config("tiny_swinunetr", "data.image_size=128"), fold=0, quiet=True)


@pytest.fixture
def run_cli(capsys):
    """Run cli.main and return (exit code, stdout, stderr)."""
    from cli import main

    def run(*argv: str):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run
