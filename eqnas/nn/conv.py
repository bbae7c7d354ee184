"""Group convolution computed in plain PyTorch: filter = coefficients x basis, then F.conv2d.

Every tool downstream (fvcore, NNI, Opacus, torch.compile) sees an ordinary module with one
trainable tensor per pair of fields and a fixed basis buffer.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from eqnas.groups import FieldType
from eqnas.nn.basis import kernel_basis

WS_EPS = 1e-5


class EquivariantConv2d(nn.Module):
    """Convolution between regular (or, for lifting, trivial) fields of one group.

    Parameters: `coefficients` [out_fields, in_fields, K]; optional `bias` [out_fields], shared
    by the |G| channels of a field so it stays equivariant. Zero padding of `padding` pixels
    (default kernel // 2). The basis [K, out_size, in_size, k, k]
    is a non-persistent buffer: checkpoints hold only the coefficients.
    """

    groups = 1  # of F.conv2d and the exported nn.Conv2d (a depthwise subclass has one per field)

    def __init__(
        self,
        in_type: FieldType,
        out_type: FieldType,
        kernel: int,
        stride: int = 1,
        bias: bool = False,
        weight_standardization: bool = False,
        padding: int | None = None,
    ) -> None:
        super().__init__()
        if in_type.group != out_type.group:
            raise ValueError(f"convolution between different groups: {in_type} -> {out_type}")
        self.in_type, self.out_type = in_type, out_type
        self.kernel, self.stride = kernel, stride
        self.padding = kernel // 2 if padding is None else padding  # None: "same" for odd kernels
        self.weight_standardization = weight_standardization
        basis = kernel_basis(in_type.group, in_type.regular, out_type.regular, kernel).to(torch.get_default_device())
        # Scale the basis so that unit-variance coefficients give unit-variance filter entries, as
        # for a plain conv: the same learning rates then suit every group (trivial included).
        basis = basis / basis.pow(2).sum(0).mean().sqrt()
        self.register_buffer("basis", basis.contiguous(), persistent=False)
        self.coefficients = nn.Parameter(torch.empty(out_type.fields, in_type.fields, basis.shape[0]))
        self.bias = nn.Parameter(torch.zeros(out_type.fields)) if bias else None
        self._eval_weight: torch.Tensor | None = None
        self._eval_key: tuple | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He initialisation of the expanded filter: var(weight) = 2 / fan_in on average
        (the basis is normalised, see __init__)."""
        fan_in = self.in_type.channels * self.kernel**2
        nn.init.normal_(self.coefficients, std=math.sqrt(2.0 / fan_in))

    def expand_weight(self) -> torch.Tensor:
        """[out_channels, in_channels, k, k] from coefficients and basis."""
        out_f, in_f, size = self.coefficients.shape
        _, out_g, in_g, k, _ = self.basis.shape
        weight = self.coefficients.reshape(out_f * in_f, size) @ self.basis.reshape(size, -1)
        # [O, I, Go, Gi, k, k] -> [O, Go, I, Gi, k, k]: channel = field * |G| + element
        weight = weight.reshape(out_f, in_f, out_g, in_g, k, k).transpose(1, 2)
        weight = weight.reshape(out_f * out_g, in_f * in_g, k, k)
        if self.weight_standardization:
            weight = standardize(weight)
        return weight

    def expanded_bias(self) -> torch.Tensor | None:
        return None if self.bias is None else self.bias.repeat_interleave(self.out_type.size)

    def weight(self) -> torch.Tensor:
        """The filter, expanded once and cached while the module is in eval mode."""
        needs_grad = torch.is_grad_enabled() and self.coefficients.requires_grad
        if self.training or needs_grad:
            self._eval_weight = None
            return self.expand_weight()
        key = (self.coefficients._version, self.coefficients.device, self.coefficients.dtype)
        if self._eval_weight is None or self._eval_key != key:
            with torch.no_grad():
                self._eval_weight = self.expand_weight()
            self._eval_key = key
        return self._eval_weight

    # True only during a forward of the per-sample-gradient wrapper (eqnas.train.grad_samplers
    # .coefficients_from_hooks), whose hooks give the coefficients' gradient.
    coefficient_grads_from_hooks = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.coefficient_grads_from_hooks and x.requires_grad:
            with torch.no_grad():  # autograd still reaches the input; its coefficient gradient is not needed
                weight = self.expand_weight()
        else:
            weight = self.weight()
        return F.conv2d(x, weight, self.expanded_bias(), self.stride, self.padding, groups=self.groups)

    def to_plain(self) -> nn.Conv2d:
        """An nn.Conv2d holding the expanded filter; outputs match this module's."""
        conv = nn.Conv2d(
            self.in_type.channels, self.out_type.channels, self.kernel, self.stride, self.padding,
            groups=self.groups, bias=self.bias is not None,
        )
        with torch.no_grad():
            conv.weight.copy_(self.expand_weight())
            if self.bias is not None:
                conv.bias.copy_(self.expanded_bias())
        return conv.to(self.coefficients.device)

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}, kernel={self.kernel}, stride={self.stride}, basis={self.basis.shape[0]}"


def standardize(weight: torch.Tensor) -> torch.Tensor:
    """Weight standardisation per output channel. Equivariant: the filters of one regular field
    are transformed copies of each other, so they share mean and variance."""
    mean = weight.mean(dim=(1, 2, 3), keepdim=True)
    var = weight.var(dim=(1, 2, 3), keepdim=True, unbiased=False)
    return (weight - mean) / torch.sqrt(var + WS_EPS)
