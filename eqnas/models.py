"""`eqnas.create_model`: timm's front door for eqnas. A network by shipped example name, family
name, architecture file or `Arch`, with Arch fields overridden and optionally trained weights
loaded; `eqnas.load` stays the path-based twin."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from eqnas.arch import Arch
from eqnas.build import build
from eqnas.catalog import list_models
from eqnas.errors import EqnasError
from eqnas.families import FAMILIES
from eqnas.families.network import EquivariantNet
from eqnas.train.checkpoint import read_checkpoint


def create_model(model: str | Path | Arch, pretrained: str | Path | None = None, num_classes: int | None = None,
                 in_chans: int | None = None, **overrides: Any) -> EquivariantNet:
    """`model`: a name from `eqnas.list_models()` (a shipped example, or a family whose `group`,
    `stem`, `stages` and `resolution` come as keyword arguments), an architecture file, or an
    `Arch`. `in_chans` and `overrides` (Arch fields: ``group="C4"``, ``stem={"width": 8}``) are
    validated as a file's fields would be.

    `pretrained`: an `eqnas retrain` output folder or checkpoint file whose weights fit this
    architecture (its classes aside); the model then comes in eval mode, and a `num_classes`
    other than the checkpoint's gets a fresh classifier (`reset_classifier`)."""
    changes = {**overrides, **({} if in_chans is None else {"in_channels": in_chans})}
    if pretrained is None:
        return build(_arch(model, {**changes, **({} if num_classes is None else {"num_classes": num_classes})}))
    payload = read_checkpoint(pretrained)
    trained = Arch.from_dict(payload["arch"], where=f"{pretrained}:arch")
    net = build(_arch(model, {**changes, "num_classes": trained.num_classes}))
    try:
        net.load_state_dict(payload["state_dict"])
    except RuntimeError:
        ours, theirs = net.arch.to_dict(), trained.to_dict()
        differ = [key for key in theirs if key != "name" and ours.get(key) != theirs[key]]
        raise EqnasError(f"{pretrained}: its weights do not fit {_label(model)}, which differs from the "
                         f"architecture they were trained with in {', '.join(differ) or 'its layers'}; "
                         f"eqnas.load({str(pretrained)!r}) builds that one") from None
    if num_classes is not None and num_classes != trained.num_classes:
        net.reset_classifier(num_classes)
    return net.eval()


def _arch(model: str | Path | Arch, changes: dict[str, Any]) -> Arch:
    """The architecture `model` names, with `changes` applied and validated."""
    if isinstance(model, Arch):
        data, where = model.to_dict(), "create_model"
    elif isinstance(model, str) and model in FAMILIES and not Path(model).exists():
        data, where = {"family": model}, f"create_model({model!r})"
    elif isinstance(model, (str, Path)):
        if not Path(model).exists() and str(model) not in list_models():
            raise EqnasError(f"unknown model {str(model)!r}: not a file; choose one of {', '.join(list_models())}")
        data, where = Arch.load(model).to_dict(), f"create_model({str(model)!r})"
    else:
        raise EqnasError(f"create_model: expected a name, a path or an Arch, got {type(model).__name__}")
    return Arch.from_dict({**data, **{key: _plain(value) for key, value in changes.items()}}, where=where)


def _plain(value: Any) -> Any:
    """Stem and Stage values as the dicts an architecture file holds."""
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _label(model: str | Path | Arch) -> str:
    return repr(str(model)) if isinstance(model, (str, Path)) else "the given Arch"
