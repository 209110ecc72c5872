"""Property-based layer (hypothesis): every reader of a file a user hands over, fed documents mutated by
type, depth, encoding and size, either reads it or refuses it with one UserError -- never another
exception; every numeric config field, fed its bounds, negatives, zero, NaN, infinity and huge values, is
refused in one line or accepted as a finite number within its declared bounds."""
import json
import math
import shutil
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
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
from tests.stubs import make_stub_run

ROOT = Path(__file__).resolve().parents[1]
MEMBER_YAML = ROOT / "configs/kvasir/tiny.yaml"
ENSEMBLE_YAML = ROOT / "configs/ensemble/kvasir.yaml"
EXAMPLES = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# ---------------------------------------------------------------------------------------------- documents

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["polyp", "Radius", "finger-1", "images/0.jpg", ""]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)


def nodes(document, path=()) -> Iterator[tuple]:
    """The path of every node of a JSON document, the root included."""
    yield path
    children = document.items() if isinstance(document, dict) else enumerate(document) \
        if isinstance(document, list) else ()
    for key, child in children:
        yield from nodes(child, (*path, key))


def copy_and_parent(document, path: tuple):
    """A deep copy of `document` and, in it, the container holding the node at `path` (not the root)."""
    copy = json.loads(json.dumps(document))
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    return copy, parent


def replaced(document, path: tuple, value):
    if not path:
        return value
    copy, parent = copy_and_parent(document, path)
    parent[path[-1]] = value
    return copy


def removed(document, path: tuple):
    if not path:
        return document
    copy, parent = copy_and_parent(document, path)
    del parent[path[-1]]
    return copy


@st.composite
def mutated_bytes(draw, document, dump: Callable[[object], str] = lambda d: json.dumps(d, allow_nan=True)) -> bytes:
    """`document` with one node replaced or removed, nested deeply, re-encoded, or cut short."""
    paths = list(nodes(document))
    kind = draw(st.sampled_from(["replace", "remove", "deep", "encoding", "cut", "noise"]))
    if kind == "replace":
        return dump(replaced(document, draw(st.sampled_from(paths)), draw(values))).encode()
    if kind == "remove":
        return dump(removed(document, draw(st.sampled_from(paths)))).encode()
    if kind == "deep":
        depth = draw(st.sampled_from([50, 1000, 100_000]))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return dump(replaced(document, draw(st.sampled_from(paths)), "DEEP")).replace(
            '"DEEP"', opener * depth + "1" + closer * depth).encode()
    text = dump(replaced(document, draw(st.sampled_from(paths)), draw(st.sampled_from(["é", "ß", "日本"]))))
    if kind == "encoding":
        return text.encode(draw(st.sampled_from(["utf-16", "utf-32", "latin-1", "cp1252", "utf-8-sig"])),
                           errors="replace")
    if kind == "cut":
        data = text.encode()
        return data[:draw(st.integers(0, len(data)))]
    return draw(st.binary(max_size=64))


def assert_reads_or_refuses(read: Callable[[], object]) -> None:
    try:
        read()
    except UserError as err:
        message = str(err)
        assert message and "\n" not in message, message


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


@pytest.mark.parametrize("source, schema", [(MEMBER_YAML, MemberConfig), (ENSEMBLE_YAML, EnsembleConfig)],
                         ids=["member", "ensemble"])
def test_every_config_reads_or_refuses_in_one_line_whatever_the_yaml(source, schema, tmp_path):
    document = yaml.safe_load(source.read_text())
    path = tmp_path / "config.yaml"

    @EXAMPLES
    @given(data=mutated_bytes(document, dump=lambda d: yaml.safe_dump(d) if not isinstance(d, str) else d))
    def fuzz(data: bytes):
        path.write_bytes(data)
        assert_reads_or_refuses(lambda: load_config(path, schema))

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
    keys = ["oof_size", "batch_size", "thresholds", "members.0.weight", "members.0.tta_scales.0",
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
        numbers = [config.oof_size, config.batch_size, *(m.weight for m in config.member_entries()),
                   *(s for m in config.member_entries() for s in m.tta_scales),
                   *(p.min_share for p in config.postprocess.values())]
        if isinstance(config.thresholds, float):
            numbers.append(config.thresholds)
        assert all(math.isfinite(n) and n <= 1e6 for n in numbers), numbers

    fuzz()



# ---------------------------------------------------------------------------------------------- outputs


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, kvasir_root) -> dict[str, Path]:
    """Every input the commands below read, in one folder the property compares byte for byte."""
    from submit.submission import write_submission
    work = tmp_path_factory.mktemp("outputs")
    shutil.copytree(kvasir_root, work / "kvasir")
    member = work / "runs" / "fold0"
    make_stub_run(member, "kvasir", ("polyp",), size=32, seed=1)
    write_splits(make_splits(get_task("kvasir", work / "kvasir"), k=2), work / "splits.json")
    config = work / "ensemble.yaml"
    config.write_text(yaml.safe_dump({"task": "kvasir", "members": [str(member)],
                                      "data": {"root": str(work / "kvasir" / "test")},
                                      "output": {"csv": str(work / "new.csv")}}))
    test_images = sorted((work / "kvasir" / "test" / "images").iterdir())
    for name in ("a.csv", "b.csv"):
        with write_submission(work / name, ("polyp",)) as writer:
            for image in sorted((work / "kvasir" / "validation" / "images").iterdir()):
                writer.write_image(image.name, np.zeros((1, 64, 64), bool))
    return {"work": work, "member": member, "state": member / "state.json",
            "model": next(p for p in member.iterdir() if p.suffix == ".safetensors"),
            "config": config, "splits": work / "splits.json",
            "test image": test_images[0], "test images": test_images[0].parent, "test root": test_images[0].parents[1],
            "data root": work / "kvasir", "mask": next((work / "kvasir" / "validation" / "masks").iterdir()),
            "validation images": work / "kvasir" / "validation" / "images",
            "validation root": work / "kvasir" / "validation",
            "a.csv": work / "a.csv", "b.csv": work / "b.csv"}


# command -> (argv with OUT where the output goes, the inputs it reads that OUT may be aimed at)
COMMANDS: dict[str, tuple[Callable[[dict], list], list[str]]] = {
    "ensemble": (lambda i: ["ensemble", "--config", i["config"], "--set", "output.csv=OUT"],
                 ["test image", "state", "model", "config", "test images", "member"]),
    "tune-thresholds": (lambda i: ["tune-thresholds", "--config", i["config"], "--out", "OUT"],
                        ["state", "model", "config", "member"]),
    "tune-ensemble": (lambda i: ["tune-ensemble", "--config", i["config"], "--out", "OUT"],
                      ["state", "model", "config", "member"]),
    "pseudo-label": (lambda i: ["pseudo-label", "--config", i["config"], "--splits", i["splits"], "--out", "OUT"],
                     ["test images", "test root", "member", "splits", "config", "test image"]),
    "compare": (lambda i: ["compare", "--task", "kvasir", "--data-root", i["data root"] / "validation", "--csv",
                           i["a.csv"], i["b.csv"], "--out", "OUT"], ["a.csv", "b.csv", "mask"]),
    "vote": (lambda i: ["vote", "--csv", i["a.csv"], i["b.csv"], "--min-votes", "1", "--out", "OUT"],
             ["a.csv", "b.csv"]),
    "split": (lambda i: ["split", "--task", "kvasir", "--data-root", i["data root"] / "validation", "--k", "2",
                         "--out", "OUT"], ["mask", "validation images"]),
    "analyze": (lambda i: ["analyze", "--task", "kvasir", "--csv", i["a.csv"], "--data-root",
                           i["data root"] / "validation", "--out", "OUT"], ["a.csv", "validation root", "mask"]),
}
PAIRS = [(command, target) for command, (_, targets) in COMMANDS.items() for target in targets]


def snapshot(folder: Path) -> dict[Path, bytes | None]:
    return {p: None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))}


def test_no_output_of_any_command_may_be_one_of_its_inputs(inputs, run_cli):
    before = snapshot(inputs["work"])

    @settings(max_examples=3 * len(PAIRS), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(pair=st.sampled_from(PAIRS), inside=st.booleans())
    def fuzz(pair, inside):
        command, target = pair
        out = inputs[target] / "out" if inside and inputs[target].is_dir() else inputs[target]
        argv = [str(a).replace("OUT", str(out)) if str(a).endswith("OUT") else str(a)
                for a in COMMANDS[command][0](inputs)]
        code, stdout, err = run_cli("--quiet", *argv)
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (argv, code, err or stdout)
        assert snapshot(inputs["work"]) == before, argv

    fuzz()
