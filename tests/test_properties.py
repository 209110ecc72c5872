"""Property-based layer (hypothesis): every reader of a file a user hands over, fed documents mutated by
type, depth, encoding and size, either reads it or refuses it with one UserError -- never another
exception; every numeric config field, fed its bounds, negatives, zero, NaN, infinity and huge values, is
refused in one line or accepted as a finite number within its declared bounds; and every numeric flag of
every command, fed the same, is refused in one line naming it before the command runs."""
import argparse
import json
import math
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from configs.files import read_model
from configs.load import load_config
from configs.schema import EnsembleConfig, MemberConfig
from data import get_task
from data.handbone import parse_annotations
from data.splits import make_splits, write_splits
from ensemble.shards import Partial, sidecar_path
from ensemble.thresholds import resolve_thresholds
from ensemble.weights import read_weights
from errors import UserError
from models.import_weights import check_sidecar
from models.run_folder import RunFolder
from submit.submission import read_submission
from tests.mutations import EXAMPLES, assert_reads_or_refuses, mutated_bytes
from tests.stubs import make_stub_run

ROOT = Path(__file__).resolve().parents[1]
MEMBER_YAML = ROOT / "configs/kvasir/tiny.yaml"
ENSEMBLE_YAML = ROOT / "configs/ensemble/kvasir.yaml"

# ---------------------------------------------------------------------------------------------- readers


@pytest.fixture(scope="module")
def files(tmp_path_factory, kvasir_root, handbone_root) -> dict:
    """A valid document of every file kind, and the reader the commands call for it."""
    work = tmp_path_factory.mktemp("properties")
    member = work / "m" / "fold0"
    make_stub_run(member, "kvasir", ("polyp",), size=32, seed=0)
    splits = work / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2), splits)
    label = next((handbone_root / "train" / "outputs_json").rglob("*.json"))
    csv = work / "part.csv"
    return {
        "splits": (json.loads(splits.read_text()), lambda path: read_splits_of(path)),
        "thresholds": ({"thresholds": {"polyp": 0.4}, "oof_images": 3},
                       lambda path: resolve_thresholds(path, ("polyp",))),
        "weights": ({"members": [str(member)], "weights": {"polyp": {str(member): 1.0}},
                     "thresholds": {"polyp": 0.5}, "postprocess": {"polyp": {"step": "remove_small", "min_share": 0.1}},
                     "cv_dice_tuned": 0.8}, lambda path: read_weights(path, [str(member)], ("polyp",))),
        "shard sidecar": ({"shard": 0, "shards": 2, "task": "kvasir", "classes": ["polyp"],
                           "images": [["0.jpg", 64, 64]]}, lambda path: Partial.read(csv)),
        "run state": (json.loads((member / "state.json").read_text()), lambda path: RunFolder(path.parent).state()),
        "import-weights sidecar": ({"source": "/x.pth", "sha256": "0" * 64, "target": "the encoder", "model": "smp",
                                    "tensors": 1, "mapping": {"a": "b"}}, lambda path: check_sidecar(path)),
        "hand-bone label": (json.loads(label.read_text()), lambda path: parse_annotations(path, (128, 128))),
        "_paths": {"shard sidecar": sidecar_path(csv), "run state": work / "state_copy" / "state.json"},
        "_work": work,
    }


def read_splits_of(path: Path):
    from data.splits import read_splits
    return read_splits(path)


KINDS = ["splits", "thresholds", "weights", "shard sidecar", "run state", "import-weights sidecar", "hand-bone label"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_json_reader_reads_or_refuses_in_one_line_whatever_the_document(kind, files):
    document, read = files[kind]
    path = files["_paths"].get(kind, files["_work"] / f"{kind.replace(' ', '_')}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    read(path)  # the valid document reads

    @EXAMPLES
    @given(data=mutated_bytes(document))
    def fuzz(data: bytes):
        path.write_bytes(data)
        assert_reads_or_refuses(lambda: read(path))

    fuzz()


def test_the_json_reader_refuses_what_the_model_does_not_allow(tmp_path):
    """A hand-made check that the fuzzed readers do refuse (not only survive): NaN, a string for a number."""
    from configs.files import Thresholds
    for text, fragment in (('{"thresholds": {"polyp": NaN}}', "NaN is not a JSON number"),
                           ('{"thresholds": {"polyp": "0.5"}}', "thresholds.polyp: Input should be a valid number"),
                           ('{"thresholds": {"polyp": 0.5}, "x": 1}', "x: unknown key"),
                           ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
                           ('{"thresholds": {"a\\nb\\r": null}}', r"thresholds\.a\\nb\\r: Input should be a valid number")):
        (tmp_path / "t.json").write_text(text)
        with pytest.raises(UserError, match=fragment) as refused:
            read_model(tmp_path / "t.json", Thresholds, "thresholds file")
        assert "\n" not in str(refused.value) and "\r" not in str(refused.value)  # a key's newline is escaped


def test_the_submission_reader_reads_or_refuses_whatever_the_csv(tmp_path):
    path = tmp_path / "sub.csv"
    rows = ["image_name,class,rle", "a.jpg,polyp,1 3 10 2", "b.jpg,polyp,"]
    lines = st.one_of(st.sampled_from(rows), st.text(max_size=30),
                      st.builds(lambda n, c, r: f"{n},{c},{r}", st.text(max_size=6), st.text(max_size=6),
                                st.lists(st.integers(-5, 10**12), max_size=6).map(lambda x: " ".join(map(str, x)))))

    @EXAMPLES
    @given(header=st.sampled_from([rows[0], "image,class,rle", ""]), body=st.lists(lines, max_size=6),
           encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]))
    def fuzz(header, body, encoding):
        path.write_bytes("\n".join([header, *body]).encode(encoding, errors="replace"))
        assert_reads_or_refuses(lambda: read_submission(path))

    fuzz()


# ---------------------------------------------------------------------------------------------- YAML configs


def load_task_file(path: Path):
    from configs.task import load_task_spec
    return load_task_spec(path)


YAML_READERS = {"member": (MEMBER_YAML, lambda path: load_config(path, MemberConfig)),
                "ensemble": (ENSEMBLE_YAML, lambda path: load_config(path, EnsembleConfig)),
                "handbone task": (ROOT / "configs/tasks/handbone.yaml", load_task_file),
                "third task": (ROOT / "tests/tasks/shapes3.yaml", load_task_file)}


@pytest.mark.parametrize("kind", YAML_READERS)
def test_every_config_reads_or_refuses_in_one_line_whatever_the_yaml(kind, tmp_path):
    source, read = YAML_READERS[kind]
    document = yaml.safe_load(source.read_text())
    path = tmp_path / "config.yaml"

    @EXAMPLES
    @given(data=mutated_bytes(document, dump=lambda d: yaml.safe_dump(d) if not isinstance(d, str) else d))
    def fuzz(data: bytes):
        path.write_bytes(data)
        assert_reads_or_refuses(lambda: read(path))

    fuzz()


# ---------------------------------------------------------------------------------------------- numbers


def numeric_fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, object]]:
    """(dotted key, annotation) of every number a config section holds, nested sections included."""
    for name, field in model.model_fields.items():
        yield from numeric_leaves(field.annotation, f"{prefix}{name}")


def numeric_leaves(annotation, key: str) -> Iterator[tuple[str, object]]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation in (int, float):
        yield key, annotation
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from numeric_fields(annotation, f"{key}.")
    elif origin is typing.Annotated:
        yield from numeric_leaves(args[0], key)
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            yield from numeric_leaves(arg, key)


MEMBER_NUMBERS = sorted(set(numeric_fields(MemberConfig)))
EXTREMES = [0, -1, 1, -1e-9, 1e-9, 0.5, 2**31, 2**63, 10**30, 1e300, float("nan"), float("inf"), float("-inf")]


def override(key: str, value) -> str:
    text = {math.inf: ".inf", -math.inf: "-.inf"}.get(value, ".nan" if value != value else repr(value))
    return f"{key}={text}"


def test_every_numeric_member_field_is_bounded_above():
    """A number no field may accept: every field has an upper bound (sizes, counts and rates alike)."""
    unbounded = [key for key, kind in MEMBER_NUMBERS if not refused(key, 10**30 if kind is int else 1e300)]
    assert unbounded == []


def refused(key: str, value) -> bool:
    try:
        load_config(MEMBER_YAML, MemberConfig, [override(key, value)])
    except UserError:
        return True
    return False


@EXAMPLES
@given(field=st.sampled_from(MEMBER_NUMBERS), value=st.one_of(st.sampled_from(EXTREMES), st.floats(), st.integers()))
def test_every_numeric_member_field_is_refused_in_one_line_or_finite(field, value):
    key, _ = field
    try:
        config = load_config(MEMBER_YAML, MemberConfig, [override(key, value)])
    except UserError as err:
        assert "\n" not in str(err) and key.split(".")[-1] in str(err), str(err)
        return
    accepted = config
    for part in key.split("."):
        accepted = getattr(accepted, part)
    assert accepted is None or (isinstance(accepted, (int, float)) and math.isfinite(accepted)), (key, accepted)


def test_ensemble_numbers_are_refused_in_one_line_or_finite(tmp_path):
    """The ensemble's own numbers and each member entry's, as a user writes them in YAML."""
    base = yaml.safe_load(ENSEMBLE_YAML.read_text())
    keys = ["batch_size", "thresholds", "members.0.weight", "members.0.tta_scales.0",
            "postprocess.polyp.min_share"]

    @EXAMPLES
    @given(key=st.sampled_from(keys), value=st.one_of(st.sampled_from(EXTREMES), st.floats()))
    def fuzz(key, value):
        document = json.loads(json.dumps(base))
        document["postprocess"] = {"polyp": {"step": "remove_small", "min_share": 0.1}}
        document["members"][0]["tta_scales"] = [1.0]
        node, parts = document, key.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(parts[-1]) if isinstance(node, list) else parts[-1]] = value
        path = tmp_path / "e.yaml"
        path.write_text(yaml.safe_dump(document))
        try:
            config = load_config(path, EnsembleConfig)
        except UserError as err:
            assert "\n" not in str(err)
            return
        numbers = [config.batch_size, *(m.weight for m in config.member_entries()),
                   *(s for m in config.member_entries() for s in m.tta_scales),
                   *(p.min_share for p in config.postprocess.values())]
        if isinstance(config.thresholds, float):
            numbers.append(config.thresholds)
        assert all(math.isfinite(n) and n <= 1e6 for n in numbers), numbers

    fuzz()


# ---------------------------------------------------------------------------------------------- command-line flags


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """Every command's parser, by name, as the CLI builds them."""
    from cli import build_parser

    return next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices


def required_flags(name: str, leaving_out: argparse.Action | None = None) -> list[str]:
    """Every required flag of command `name` (but `leaving_out`) with a value that parses."""
    return [part for action in subcommands()[name]._actions if action.required and action is not leaving_out
            for part in (action.option_strings[0], "x" if action.type is None else str(action.type.low))]


NUMERIC_FLAGS = [(name, action) for name, sub in subcommands().items() for action in sub._actions
                 if action.type is not None]  # every flag that takes anything but text or a switch


def test_the_cli_has_numeric_flags_and_each_is_bounded_finitely():
    """Every numeric flag carries its range (nothing reaches numpy or the allocator unchecked), the range is
    finite, and the default lies inside it."""
    from commands import Bounded

    assert {(name, action.option_strings[0]) for name, action in NUMERIC_FLAGS} >= {
        ("compare", "--resamples"), ("compare", "--seed"), ("synth", "--size"), ("split", "--seed"),
        ("train-fold", "--fold"), ("vote", "--min-votes"), ("pseudo-label", "--min-confidence")}
    for name, action in NUMERIC_FLAGS:
        assert isinstance(action.type, Bounded), (name, action.option_strings)
        assert math.isfinite(action.type.low) and action.type.high <= 2**32, (name, action.option_strings)
        if action.default is not None:
            assert action.type.low <= action.default <= action.type.high, (name, action.option_strings)


BAD_NUMBERS = ["-1", "-1e300", "1e300", str(10**30), "nan", "inf", "-inf", "1e9x", ""]


@pytest.mark.parametrize("command, flag", [(name, action.option_strings[0]) for name, action in NUMERIC_FLAGS])
def test_every_numeric_flag_refuses_negative_huge_and_non_finite_values_in_one_line(command, flag, run_cli, tmp_path,
                                                                                     monkeypatch):
    """Each value is refused at parse time: exit 2, one line on stderr naming the flag, nothing written."""
    monkeypatch.chdir(tmp_path)
    for value in BAD_NUMBERS:
        code, out, err = run_cli(command, flag, value)
        assert code == 2 and out == "", (flag, value, out)
        assert err.count("\n") == 1 and flag in err and "Traceback" not in err, (flag, value, err)
    assert list(tmp_path.iterdir()) == []


@EXAMPLES
@given(choice=st.sampled_from(NUMERIC_FLAGS),
       value=st.one_of(st.sampled_from(EXTREMES), st.floats(), st.integers(-10**40, 10**40)))
def test_a_numeric_flag_parses_exactly_the_finite_values_of_its_kind_in_its_range(choice, value):
    """A flag's value parses, to the number given, when it is of the flag's kind (an int flag takes no decimal
    point) and finite within the flag's range; otherwise the command line is refused with exit 2."""
    from cli import build_parser

    name, action = choice
    kind, low, high = action.type.kind, action.type.low, action.type.high
    text = repr(value)
    of_its_kind = isinstance(value, int) or kind is float
    fits = of_its_kind and math.isfinite(float(value)) and low <= value <= high
    argv = [name, *required_flags(name, leaving_out=action), action.option_strings[0], text]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:
        assert done.code == 2 and not fits, (name, text)
        return
    assert fits and getattr(args, action.dest) == kind(value), (name, text)


def test_every_bad_command_line_is_one_line(run_cli):
    """An unknown command, an unknown flag, a missing required flag: exit 2 and one line naming it."""
    cases = [(["no-such-command"], "no-such-command")]
    for name in subcommands():
        required = required_flags(name)
        cases.append(([name, *required, "--no-such-flag"], "--no-such-flag"))
        if required:
            cases.append(([name], required[0]))
    for argv, named in cases:
        code, out, err = run_cli(*argv)
        assert code == 2 and out == "" and err.count("\n") == 1 and named in err, (argv, err)
