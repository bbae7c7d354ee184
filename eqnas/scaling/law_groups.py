"""The group order as an axis of `eqnas laws`: one family rebuilt for another symmetry group at
the same FLOPs.

Width matching: a width of w regular fields of the space's group G0 is w x |G0| channels; for
group G it becomes w x |G0| / |G| fields, the same channels. Every convolution then has the same
input and output channels and kernel, so the same fvcore FLOPs (one multiply-add = one FLOP);
only the invariant pooling and the final linear layer differ (0.2% for spaces/laws_resnet.yaml;
tests hold every group within FLOP_TOLERANCE). The division must be exact: a group whose order
does not divide a width's channels is not valid for that family.
"""
from __future__ import annotations

import dataclasses

from eqnas.arch import Arch
from eqnas.errors import EqnasError
from eqnas.groups import Group, parse_group

FLOP_TOLERANCE = 0.02  # relative FLOP difference allowed between groups at one size


def parse_groups(text: str) -> tuple[Group, ...]:
    """'trivial,C4,C8' -> the groups, in order, each once."""
    groups = []
    for part in text.split(","):
        try:
            group = parse_group(part)
        except EqnasError as error:
            raise EqnasError(f"--groups {text!r}: {error}") from None
        if group in groups:
            raise EqnasError(f"--groups {text!r}: {group} is given twice; name each group once")
        groups.append(group)
    return tuple(groups)


def regroup(arch: Arch, group: Group) -> Arch:
    """`arch` built for `group` with the same channels in every layer (see the module docstring)."""
    source = arch.base_group
    if any(stage.group is not None for stage in arch.stages):
        raise EqnasError(_RESTRICTED.format(what=repr(arch.name or arch.family)))

    def fields(width: int, where: str) -> int:
        channels = width * source.order
        if channels % group.order:
            raise EqnasError(f"group {group} is not valid for {arch.name or arch.family!r}: {where} has "
                             f"{channels} channels ({width} {source} fields), not a multiple of |{group}| = "
                             f"{group.order}; use widths whose channels every group's order divides")
        return channels // group.order

    stem = dataclasses.replace(arch.stem, width=fields(arch.stem.width, "the stem"))
    stages = tuple(dataclasses.replace(stage, width=fields(stage.width, f"stage {i}"))
                   for i, stage in enumerate(arch.stages))
    return arch.replace(group=group.name, stem=stem, stages=stages)


def check_regroupable(space_name: str, choices: dict[str, tuple]) -> None:
    """--groups rebuilds one family for each group, so the space must fix one group for the whole
    network: no choice of group, no per-stage groups (checked before any network is built)."""
    if len(choices["group"]) > 1:
        raise EqnasError(f"space {space_name!r} searches its group over {', '.join(map(str, choices['group']))}; "
                         "--groups needs a space with one fixed group")
    if any(label.startswith("stages.") and label.endswith(".group") for label in choices):
        raise EqnasError(_RESTRICTED.format(what=f"space {space_name!r}"))


_RESTRICTED = ("--groups is not valid for {what}: its stages restrict the group (a group schedule), so one "
               "group cannot be swapped in; use a space without per-stage groups")
