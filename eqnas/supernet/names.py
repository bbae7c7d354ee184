"""Where a subnet's layer lives in the supernet: a name that does not depend on the depths.

A static network numbers its layers through all stages (`features.5`), so one block more in
stage 0 shifts every later number. The supernet names a layer by stage and position instead:
`stem`, `stage1.0.body.0.0`, and the classifier by what feeds it (`classifier2max_mean`: two
stages, that head), since the last stage and the invariants it gets differ between subnets.
"""
from __future__ import annotations

from eqnas.families.network import EquivariantNet

SEPARATOR = ":"  # store keys cannot hold "." (nn.ParameterDict), so paths use this instead


def layer_path(net: EquivariantNet, module_path: str) -> str:
    """The depth-independent name of the module at `module_path` in `net`."""
    head, _, rest = module_path.partition(".")
    if head == "classifier":
        return _join(f"classifier{len(net.arch.stages)}{net.arch.head}", rest)
    if head != "features":
        raise RuntimeError(f"no supernet name for module {module_path!r}")
    index_text, _, rest = rest.partition(".")
    index = int(index_text)
    if index == 0:
        return _join("stem", rest)
    for stage, (start, count) in enumerate(net.stage_spans):
        if start <= index < start + count:
            return _join(f"stage{stage}.{index - start}", rest)
    raise RuntimeError(f"module {module_path!r} lies in no stage (a restriction holds no weights)")


def store_key(path: str, tensor: str) -> str:
    return f"{path}.{tensor}".replace(".", SEPARATOR)


def _join(first: str, rest: str) -> str:
    return f"{first}.{rest}" if rest else first
