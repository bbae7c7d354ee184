"""Buffers that hold no data, declared per layer type, so a model can be wrapped for Opacus.

Opacus's GradSampleModule (strict, the default and what PrivacyEngine.make_private builds)
refuses any trainable layer that has a buffer, because buffers such as batch-norm statistics
mix samples. EquivariantConv2d's `basis` is a constant of the group and kernel size, the same
for every sample and never updated, so it is declared here and the model is wrapped with
Opacus's check off after this stricter-per-name check has passed.
"""
from __future__ import annotations

from opacus import GradSampleModule
from opacus.utils.module_utils import trainable_modules
from opacus.validators import ModuleValidator
from torch import nn

from eqnas.train.grad_samplers.coefficients_from_hooks import coefficients_from_hooks
from eqnas.train.grad_samplers.mean_loss_backprops import mean_loss_module

CONSTANT_BUFFERS: dict[type[nn.Module], frozenset[str]] = {}


def register_constant_buffers(layer_type: type[nn.Module], *names: str) -> None:
    if layer_type in CONSTANT_BUFFERS:
        raise ValueError(f"constant buffers of {layer_type.__name__} are registered twice")
    CONSTANT_BUFFERS[layer_type] = frozenset(names)


def private_buffers(model: nn.Module) -> list[str]:
    """'module.buffer' for every buffer of a trainable layer that is not declared constant."""
    found = []
    for module_name, module in trainable_modules(model):
        allowed = CONSTANT_BUFFERS.get(type(module), frozenset())
        found += [f"{module_name}.{name}" for name, _ in module.named_buffers() if name not in allowed]
    return found


def checked_for_opacus(model: nn.Module) -> None:
    """Opacus's strict module check, with the buffers check narrowed to undeclared buffers."""
    ModuleValidator.validate(model, strict=True)
    found = private_buffers(model)
    if found:
        raise NotImplementedError(f"layers with buffers that may mix samples: {', '.join(found)}")


def grad_sample_module(model: nn.Module, loss_reduction: str = "mean") -> GradSampleModule:
    """`model` wrapped for per-sample gradients; pass the result to PrivacyEngine.make_private
    (which keeps an existing GradSampleModule whose loss_reduction matches its own)."""
    checked_for_opacus(model)
    if loss_reduction == "mean":
        return coefficients_from_hooks(mean_loss_module(model))
    return coefficients_from_hooks(GradSampleModule(model, loss_reduction=loss_reduction, strict=False))
