"""`import-weights`: a state dict from another implementation mapped onto a member's network, its
encoder, or the encoder's timm backbone (classifier included), by name when the names agree and
otherwise by module order and shape; written as safetensors in the target's names with a JSON sidecar."""
from __future__ import annotations

import hashlib
from pathlib import Path

import timm
import torch
import torch.nn as nn
from safetensors.torch import save_file

import atomic
from configs.files import WeightsSidecar, read_model, write_model
from configs.schema import MemberConfig
from errors import UserError
from models import build_model
from models.pretrained import read_state_dict, timm_backbones, update_with_file

SIDECAR_SUFFIX = ".json"  # FILE.safetensors -> FILE.safetensors.json


def sidecar_path(out: Path) -> Path:
    """The JSON sidecar beside an imported weights file: `<file>.json`."""
    return out.with_name(out.name + SIDECAR_SUFFIX)


def check_sidecar(path: Path) -> None:
    """The sidecar may replace only an earlier sidecar: any other file of that name is the user's."""
    if not path.exists():
        return
    try:
        read_model(path, WeightsSidecar, "sidecar")
    except UserError:
        raise UserError(f"--out: the sidecar {path} would replace a file import-weights did not write") from None


def import_targets(model: nn.Module) -> list[tuple[str, dict[str, torch.Tensor]]]:
    """(label, state dict) of what a source may map onto, most specific last."""
    targets = [("the whole network", model.state_dict())]
    if isinstance(getattr(model, "encoder", None), nn.Module):
        targets.append(("the encoder", model.encoder.state_dict()))
    for architecture in dict.fromkeys(timm_backbones(model)):
        targets.append((f"timm {architecture}", timm.create_model(architecture, pretrained=False).state_dict()))
    return targets


def name_mapping(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], path: Path) -> dict[str, str]:
    """Target name -> source name: the same names, or pairs in module order with equal shapes."""
    if source.keys() == target.keys():
        pairs = [(name, name) for name in target]
    elif path.suffix == ".safetensors":  # safetensors stores tensors sorted by name: the module order is lost
        raise UserError(f"weights {path}: names differ from the member's and a .safetensors file keeps no module "
                        f"order; import from the source's torch file")
    else:
        pairs = list(zip(target, source))
    for target_name, source_name in pairs:
        if tuple(target[target_name].shape) != tuple(source[source_name].shape):
            raise UserError(f"weights do not fit: {source_name} {tuple(source[source_name].shape)} against "
                            f"{target_name} {tuple(target[target_name].shape)}")
    return dict(pairs)


def choose_target(source: dict[str, torch.Tensor], model: nn.Module, path: Path
                  ) -> tuple[str, dict[str, torch.Tensor]]:
    """(label, target tensors) of the network the source file holds weights for: the encoder or the whole model."""
    targets = import_targets(model)
    fitting = [t for t in targets if len(t[1]) == len(source)]
    if not fitting:
        counts = ", ".join(f"{label} {len(state)}" for label, state in targets)
        raise UserError(f"weights {path} hold {len(source)} tensors; the member has {counts}: another architecture")
    return fitting[-1]


def import_weights(source_path: Path, config: MemberConfig, out: Path) -> Path:
    """Map `source_path` onto the member of `config`; write `out` (safetensors) and its sidecar."""
    source_path, out = Path(source_path), Path(out)
    if out.suffix != ".safetensors":
        raise UserError(f"--out {out}: name a .safetensors file")
    sidecar = sidecar_path(out)
    for path in (out, sidecar):
        atomic.check_target(path)
    atomic.refuse_input_as_output(sidecar, [source_path], "--out (its sidecar)")
    check_sidecar(sidecar)
    source = {k: v for k, v in read_state_dict(source_path).items() if isinstance(v, torch.Tensor)}
    model = build_model(config.model.model_copy(update={"weights": None, "pretrained": False}), 1)
    label, target = choose_target(source, model, source_path)
    mapping = name_mapping(source, target, source_path)
    sha256 = update_with_file(hashlib.sha256(), source_path).hexdigest()
    with atomic.atomic_paths(out, sidecar) as (weights_tmp, sidecar_tmp):  # they land together or not at all
        save_file({name: source[mapping[name]].contiguous() for name in target}, str(weights_tmp))
        write_model(sidecar_tmp, WeightsSidecar(source=str(source_path.resolve()), sha256=sha256, target=label,
                                                model=config.model.name, tensors=len(mapping), mapping=mapping))
    return out
