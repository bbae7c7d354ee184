"""The weight-sharing equivariant supernet of a space: train once (sandwich rule with in-place
distillation), then score or extract any subnet with inherited weights."""
from eqnas.supernet.supernet import Supernet, SubnetView

__all__ = ["Supernet", "SubnetView"]
