"""Reading configs: YAML (with its `base` chain) + `--set key.sub=value` overrides -> a validated typed object;
any problem is one line naming the file and key."""
from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from errors import UserError

Config = TypeVar("Config", bound=BaseModel)


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that names one key twice (which it would resolve by the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} appears twice (line "
                                                        f"{key_node.start_mark.line + 1})",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(text: str) -> object:
    """Safe YAML with every mapping's keys unique."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def apply_override(raw: dict, assignment: str) -> None:
    """Set `a.b.c=value` in a nested dict; the value is parsed as YAML."""
    key, sep, value = assignment.partition("=")
    if not sep or not key:
        raise UserError(f"--set needs key=value, got {assignment!r}")
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"--set {key}: {part!r} is not a section")
        node = child
    try:
        node[parts[-1]] = load_yaml(value) if value else ""
    except yaml.YAMLError:
        raise UserError(f"--set {key}: the value {value!r} is not valid YAML") from None


MAX_CONFIG_BYTES = 1_000_000
BASE_KEY = "base"  # a config may extend another file (a path relative to it); its own keys win, section by section


def merged(base: dict, own: dict) -> dict:
    """`own` over `base`, mappings merged key by key and everything else replaced."""
    out = dict(base)
    for key, value in own.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def own_raw(path: Path) -> dict:
    """The YAML mapping of one config file (a regular file of at most MAX_CONFIG_BYTES), its `base` key
    unresolved."""
    if path.exists() and not path.is_file():
        raise UserError(f"config {path} is not a regular file (a folder, device or FIFO)")
    if path.is_file() and path.stat().st_size > MAX_CONFIG_BYTES:
        raise UserError(f"config {path} is larger than {MAX_CONFIG_BYTES} bytes: not a config")
    try:
        raw = load_yaml(path.read_text(encoding="utf-8")) or {}
    except OSError:
        raise UserError(f"cannot read config: {path}") from None
    except UnicodeDecodeError:
        raise UserError(f"config {path} is not UTF-8 text") from None
    except RecursionError:
        raise UserError(f"config {path} is nested too deeply") from None
    except yaml.YAMLError as err:
        raise UserError(f"config {path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise UserError(f"config {path} must be a mapping at the top level")
    if BASE_KEY in raw and not isinstance(raw[BASE_KEY], str):
        raise UserError(f"config {path}: {BASE_KEY}: name one config file")
    return raw


def config_chain(path: Path | str, seen: tuple[Path, ...] = ()) -> list[tuple[Path, dict]]:
    """(file, its own mapping without `base`) for the config file and every file its `base` chain names,
    each read once."""
    path = Path(path)
    if path.resolve() in seen:
        raise UserError(f"config {seen[-1]}: {BASE_KEY}: {path} extends itself")
    own = own_raw(path)
    base = own.pop(BASE_KEY, None)
    rest = [] if base is None else config_chain(path.parent / base, (*seen, path.resolve()))
    return [(path, own), *rest]


def config_files(path: Path | str) -> list[Path]:
    """The config file and every file its `base` chain reads: inputs no output may replace."""
    return [file for file, _ in config_chain(path)]


def read_raw(path: Path) -> dict:
    """The YAML mapping of a config file with its `base` chain resolved (each file over the one it names)."""
    raw: dict = {}
    for _, own in reversed(config_chain(path)):
        raw = merged(raw, own)
    return raw


def load_config(path: Path | str, schema: type[Config], overrides: list[str] = ()) -> Config:
    """Read YAML (with its `base` chain), apply overrides, validate; any problem is one line naming the file and key."""
    path = Path(path)
    raw = read_raw(path)
    for assignment in overrides:
        apply_override(raw, assignment)
    return validate_config(raw, schema, str(path))


def validate_config(raw: dict, schema: type[Config], source: str) -> Config:
    return validated(raw, schema, f"config {source}")


def validated(raw: object, schema: type[Config], prefix: str) -> Config:
    """`raw` validated into `schema`; the first problem is one UserError: `prefix: key: message`."""
    try:
        return schema.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
        raise UserError(f"{prefix}: {key}: {message}") from None
