"""How each layer's tensors sit in the supernet, one rule per layer type (a table, as Opacus does
for grad samplers): what the supernet stores for a layer, and how a subnet's layer takes its
tensors from that store.

Widths are prefixes: a subnet's layer uses the first fields of the supernet's layer (a prefix
of regular fields is again a regular field type, so the sliced layer is exactly equivariant).
The stored tensor of a layer is the largest of all subnets' (`merge`).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Callable, Protocol

import torch
from torch import nn

from eqnas.arch import Arch
from eqnas.families.network import EquivariantNet
from eqnas.nn.conv import EquivariantConv2d
from eqnas.nn.depthwise import DepthwiseGroupConv2d
from eqnas.nn.norm import FieldGroupNorm
from eqnas.nn.pooling import InvariantPool
from eqnas.nn.squeeze_excite import FieldSqueezeExcite
from eqnas.supernet.kernels import Convs, coefficients_key
from eqnas.supernet.names import layer_path, store_key

Tensors = dict[str, torch.Tensor]


class Store(Protocol):
    """What a rule reads from the supernet."""

    kernel_mode: object
    largest_kernel: dict[str, int]

    def tensor(self, key: str) -> torch.Tensor: ...


class Rule(Protocol):
    def entries(self, module: nn.Module, path: str, arch: Arch) -> Tensors:
        """Store key -> this layer's tensor in the form the supernet stores it."""

    def take(self, module: nn.Module, path: str, arch: Arch, store: Store) -> Tensors:
        """The layer's tensor name -> its tensor taken from the store (differentiable)."""


RULES: dict[type, Rule] = {}


def rule_for(*types: type) -> Callable[[type], type]:
    def register(cls: type) -> type:
        for kind in types:
            if kind in RULES:
                raise ValueError(f"layer type {kind.__name__} has two supernet rules")
            RULES[kind] = cls()
        return cls

    return register


def own_tensors(module: nn.Module) -> Tensors:
    """A module's own parameters and persistent buffers (what its state_dict holds)."""
    tensors = dict(module.named_parameters(recurse=False))
    skipped = module._non_persistent_buffers_set
    tensors.update({name: b for name, b in module.named_buffers(recurse=False) if name not in skipped})
    return tensors


def prefix(tensor: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """The leading block of `tensor` with `shape` (a view)."""
    return tensor[tuple(slice(0, size) for size in shape)]


@rule_for(nn.BatchNorm1d, FieldGroupNorm, FieldSqueezeExcite)
class PrefixRule:
    """Per-field tensors (norm affine and running statistics; squeeze-and-excitation's maps,
    whose hidden units scale with the fields): the first fields."""

    def entries(self, module: nn.Module, path: str, arch: Arch) -> Tensors:
        return {store_key(path, name): tensor for name, tensor in own_tensors(module).items()}

    def take(self, module: nn.Module, path: str, arch: Arch, store: Store) -> Tensors:
        return {name: prefix(store.tensor(store_key(path, name)), tensor.shape)
                for name, tensor in own_tensors(module).items()}


@rule_for(nn.Linear)
class ClassifierRule:
    """The classifier sees k invariants per last-stage field as k blocks of fields
    ([max..., mean...] pooled two ways, see InvariantPool): stored as [classes, k, fields], so
    a narrower subnet takes the first fields of every block."""

    def entries(self, module: nn.Linear, path: str, arch: Arch) -> Tensors:
        blocks = InvariantPool.INVARIANTS[arch.head]
        weight = module.weight.reshape(module.out_features, blocks, -1)
        return {store_key(path, "weight"): weight, store_key(path, "bias"): module.bias}

    def take(self, module: nn.Linear, path: str, arch: Arch, store: Store) -> Tensors:
        blocks = InvariantPool.INVARIANTS[arch.head]
        shape = (module.out_features, blocks, module.in_features // blocks)
        weight = prefix(store.tensor(store_key(path, "weight")), shape).reshape(module.weight.shape)
        return {"weight": weight, "bias": store.tensor(store_key(path, "bias"))}


@rule_for(EquivariantConv2d, DepthwiseGroupConv2d)
class ConvRule:
    """Coefficients [out_fields, in_fields, K] (in_fields 1 for the depthwise convolution): the
    first fields, with K from the kernel mode."""

    def entries(self, module: EquivariantConv2d, path: str, arch: Arch) -> Tensors:
        found = {coefficients_key(path, module.kernel): module.coefficients}
        if module.bias is not None:
            found[store_key(path, "bias")] = module.bias
        return found

    def take(self, module: EquivariantConv2d, path: str, arch: Arch, store: Store) -> Tensors:
        taken = {"coefficients": store.kernel_mode.coefficients(store, path, module, store.largest_kernel[path])}
        if module.bias is not None:
            taken["bias"] = prefix(store.tensor(store_key(path, "bias")), module.bias.shape)
        return taken


def layers(net: EquivariantNet) -> Iterator[tuple[str, str, nn.Module, Rule]]:
    """(module path in `net`, supernet path, module, rule) of every module that holds tensors."""
    for module_path, module in net.named_modules():
        if not own_tensors(module):
            continue
        if type(module) not in RULES:
            raise RuntimeError(f"no supernet rule for layer type {type(module).__name__} ({module_path})")
        yield module_path, layer_path(net, module_path), module, RULES[type(module)]


def collect(net: EquivariantNet) -> tuple[Tensors, set[str], Convs]:
    """The store entries of one network, the keys that are trainable, and its convolutions by path and kernel."""
    entries: Tensors = {}
    trainable: set[str] = set()
    convs: Convs = {}
    for _, path, module, rule in layers(net):
        found = rule.entries(module, path, net.arch)
        entries.update(found)
        trainable.update(key for key, tensor in found.items() if tensor.requires_grad)  # from a parameter
        if isinstance(module, EquivariantConv2d):
            convs.setdefault(path, {})[module.kernel] = module
    return entries, trainable, convs


def merge(found: list[Tensors]) -> Tensors:
    """One tensor per key with the largest size along each dimension: the entries pasted into it,
    smallest first, so each region holds the initial value of the largest network that has it
    (zeros where no network does)."""
    merged: Tensors = {}
    for key in {key for entries in found for key in entries}:
        tensors = sorted((entries[key] for entries in found if key in entries), key=torch.Tensor.numel)
        shape = [max(sizes) for sizes in zip(*(t.shape for t in tensors))]
        value = torch.zeros(shape, dtype=tensors[0].dtype)
        for tensor in tensors:
            prefix(value, tensor.shape).copy_(tensor.detach())
        merged[key] = value
    return merged
