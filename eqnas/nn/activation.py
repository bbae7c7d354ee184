"""Pointwise nonlinearities: on regular fields they commute with the channel permutations of
the group, so any pointwise function keeps equivariance."""
from __future__ import annotations

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "mish": nn.Mish, "elu": nn.ELU, "tanh": nn.Tanh, "silu": nn.SiLU,  # silu: swish, EfficientNet's
}


def make_activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()
