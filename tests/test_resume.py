"""`--resume` freezes every config key but the few that may change (paths, caching, devices, workers,
threads, logging): a key added to the schema tomorrow is frozen without anyone listing it."""
from pathlib import Path

import pytest
from pydantic.fields import FieldInfo

from configs import schema
from configs.files import RunState
from data import get_task
from data.splits import make_splits, write_splits

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def new_train_key():
    """`train.new_knob` (an int, default 0) in the schema for one test, then gone again."""
    def rebuild():
        for model in (schema.TrainConfig, schema.MemberConfig, RunState):
            model.model_rebuild(force=True)

    schema.TrainConfig.model_fields["new_knob"] = FieldInfo(annotation=int, default=0)
    rebuild()
    yield "train.new_knob"
    del schema.TrainConfig.model_fields["new_knob"]
    rebuild()


@pytest.fixture
def tiny_run(kvasir_root, tmp_path):
    splits = tmp_path / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2), splits)

    def argv(*overrides: str) -> list:
        return ["--quiet", "train-fold", "--config", ROOT / "configs/kvasir/tiny.yaml", "--fold", "0", "--set",
                f"data.root={kvasir_root}", f"data.splits={splits}", f"run.dir={tmp_path / 'run'}", "train.epochs=1",
                *overrides]

    return argv, tmp_path / "run" / "fold0"


def listing(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*"))}


def test_a_key_added_to_the_schema_is_frozen_on_resume(new_train_key, tiny_run, run_cli):
    argv, run = tiny_run
    assert run_cli(*argv("train.new_knob=1"))[0] == 0
    before = listing(run)
    code, _, err = run_cli(*argv("train.new_knob=2"), "--resume")
    assert code == 2 and err.count("\n") == 1
    assert "train.new_knob was 1 when the run started, now 2" in err
    assert listing(run) == before


@pytest.mark.parametrize("override, key", [("train.amp=true", "train.amp"), ("train.val_every=2", "train.val_every"),
                                           ("train.channels_last=true", "train.channels_last"),
                                           ("model.tta=hflip", "model.tta")])
def test_keys_that_shape_training_or_its_outputs_may_not_change(tiny_run, run_cli, override, key):
    argv, run = tiny_run
    assert run_cli(*argv())[0] == 0
    code, _, err = run_cli(*argv(override), "--resume")
    assert code == 2 and f"{key} was" in err


def test_paths_caching_devices_workers_threads_and_logging_may_change(tiny_run, run_cli):
    argv, run = tiny_run
    assert run_cli(*argv())[0] == 0
    code, _, err = run_cli(*argv("data.cache=false", "data.workers=1", "train.device=cpu", "train.threads=1",
                                 "run.tensorboard=false"), "--resume")
    assert code == 0, err
    assert RunState.model_validate_json((run / "state.json").read_text()).oof_done


def test_a_run_resumed_on_another_device_type_or_precision_is_refused(tiny_run, run_cli):
    """train.device may change on resume, but not what it resolves to: a run that started as cuda/float16
    (a GPU's grad scaler state in optimizer.pt) is not continued as cpu/float32."""
    argv, run = tiny_run
    assert run_cli(*argv())[0] == 0
    state = RunState.model_validate_json((run / "state.json").read_text())
    assert state.precision == "cpu/float32"
    (run / "state.json").write_text(state.model_copy(update={"precision": "cuda/float16"}).model_dump_json())
    code, _, err = run_cli(*argv(), "--resume")
    assert code == 2 and "trained as cuda/float16" in err and "now it would run as cpu/float32" in err
