"""The weight-sharing supernet of a space: one store of tensors from which every subnet's
static network takes its weights.

A subnet's forward is its own static network (`eqnas.build` of its architecture, built once
and kept) run with tensors taken from the store (`torch.func.functional_call`): the families'
builders define every subnet, so the supernet never re-implements a block, and extraction
(copying the same tensors into a fresh static network) gives the same logits by construction.
Gradients flow through the slicing into the shared store.

Batch norm: a subnet's running statistics are the first fields of the shared ones, updated by
every subnet the supernet trains (so they are a blend); `recalibrate` them before scoring.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Union

import torch
from torch import nn
from torch.func import functional_call

from eqnas.arch import Arch
from eqnas.build import build
from eqnas.families.network import EquivariantNet
from eqnas.nn.conv import EquivariantConv2d
from eqnas.search.space import Sample, SearchSpace
from eqnas.supernet.kernels import KERNEL_MODES
from eqnas.supernet.layout import collect, layers, merge
from eqnas.supernet.resize import resize
from eqnas.supernet.subnets import covering_samples, extreme, fix_outer, random_sample, sample_of

Subnet = Union[Arch, Sample, str, Path]  # an architecture, a sample of the space, or an architecture file
TEMPLATES_KEPT = 64  # static networks kept for reuse (the most recently used)


class Supernet(nn.Module):
    """The supernet of `space` with its outer labels (group, restriction schedule, ...) fixed to
    `outer`; `kernels` names the elastic-kernel mode (see eqnas.supernet.kernels)."""

    def __init__(self, space: SearchSpace, outer: Sample | None = None, kernels: str = "map") -> None:
        super().__init__()
        self.space = fix_outer(space, outer)
        self.outer = dict(outer or {})
        self.kernel_mode = KERNEL_MODES.get_or_fail(kernels)
        self._templates: OrderedDict[Arch, EquivariantNet] = OrderedDict()
        found, trainable, convs = [], set(), {}
        for sample in covering_samples(self.space):
            entries, learnable, layer_convs = collect(self._template(self.space.to_arch(sample)))
            found.append(entries)
            trainable |= learnable
            for path, sizes in layer_convs.items():
                convs.setdefault(path, {}).update(sizes)
        values = merge(found)
        trainable |= self.kernel_mode.finalise(values, convs)
        self.largest_kernel = {path: max(sizes) for path, sizes in convs.items()}
        self.weights = nn.ParameterDict({key: nn.Parameter(value) for key, value in sorted(values.items())
                                         if key in trainable})
        self.stats = nn.Module()  # running statistics: buffers, not trained
        for key, value in sorted(values.items()):
            if key not in self.weights:
                self.stats.register_buffer(key, value)

    # --- the subnets -------------------------------------------------------------------------
    def arch(self, subnet: Subnet) -> Arch:
        """The architecture of a subnet given as an Arch, a sample or an architecture file; an
        EqnasError names a value outside this supernet."""
        if isinstance(subnet, (str, Path)):
            subnet = Arch.load(subnet)
        arch = subnet if isinstance(subnet, Arch) else self.space.to_arch(subnet)
        if arch not in self._templates:
            sample_of(self.space, arch)  # checked once: a kept template is a checked one
        return arch

    def largest(self) -> Arch:
        return self.space.to_arch(extreme(self.space, largest=True))

    def smallest(self) -> Arch:
        return self.space.to_arch(extreme(self.space, largest=False))

    def random(self, rng) -> Arch:
        """A uniformly random subnet (each elastic label drawn on its own)."""
        return self.space.to_arch(random_sample(self.space, rng))

    # --- tensors and forward ----------------------------------------------------------------
    def tensor(self, key: str) -> torch.Tensor:
        return self.weights[key] if key in self.weights else getattr(self.stats, key)

    def subnet_state(self, subnet: Subnet) -> dict[str, torch.Tensor]:
        """The state_dict of the subnet's static network, taken from the store (views and
        differentiable functions of the shared tensors)."""
        net = self._template(self.arch(subnet))
        state = {}
        for module_path, path, module, rule in layers(net):
            for name, tensor in rule.take(module, path, net.arch, self).items():
                state[f"{module_path}.{name}"] = tensor
        return state

    def forward(self, x: torch.Tensor, subnet: Subnet) -> torch.Tensor:
        """The subnet's logits; the input is resized to its resolution first (elastic resolution)."""
        arch = self.arch(subnet)
        net = self._template(arch).train(self.training)
        if not self.training:
            for conv in net.modules():
                if isinstance(conv, EquivariantConv2d):
                    conv._eval_weight = None  # its eval cache would outlive the tensors passed in
        return functional_call(net, self.subnet_state(arch), (resize(x, arch.resolution),))

    def extract(self, subnet: Subnet) -> EquivariantNet:
        """The subnet's static network (eqnas.build of its architecture, in train mode) holding
        copies of the supernet's tensors: same logits as this supernet's forward of the subnet."""
        arch = self.arch(subnet)
        state = self.subnet_state(arch)
        with torch.random.fork_rng(devices=[]):
            net = build(arch).to(self._device())
        with torch.no_grad():
            net.load_state_dict({name: tensor.detach().clone() for name, tensor in state.items()})
        return net

    def view(self, subnet: Subnet) -> "SubnetView":
        return SubnetView(self, self.arch(subnet))

    def _template(self, arch: Arch) -> EquivariantNet:
        net = self._templates.get(arch)
        if net is None:
            # built off the global random stream, so caching never changes a training's randomness
            with torch.random.fork_rng(devices=[]):
                net = build(arch).to(self._device())
            self._templates[arch] = net
            while len(self._templates) > TEMPLATES_KEPT:
                self._templates.popitem(last=False)
        self._templates.move_to_end(arch)
        return net

    def _device(self) -> torch.device:
        store = next(iter(self.parameters()), None)
        return torch.device("cpu") if store is None else store.device

    def _apply(self, fn, *args, **kwargs):
        self._templates.clear()  # rebuilt on the new device when next used
        return super()._apply(fn, *args, **kwargs)


class SubnetView(nn.Module):
    """One subnet of a supernet as a module (x -> logits), sharing the supernet's tensors."""

    def __init__(self, supernet: Supernet, arch: Arch) -> None:
        super().__init__()
        self.supernet, self.arch = supernet, arch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.supernet(x, self.arch)
