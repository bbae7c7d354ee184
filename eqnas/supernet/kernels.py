"""Elastic kernel sizes that keep every subnet exactly equivariant.

A subnet's k x k layer computes filter = coefficients x (its k x k escnn basis), as every
EquivariantConv2d does; the supernet only decides where those coefficients come from, so the
filter lies in the small kernel's basis whatever the supernet learns.

- `map`: the coefficients of the largest kernel times a learned per-layer matrix
  [K_large, K_small], initialised by projecting the centre k x k crop of each large basis
  element onto the small basis (least squares): at the start, the small filter is the best
  equivariant approximation of the large filter's centre (Once-for-All's kernel transformation,
  made equivariant).
- `separate`: one coefficient tensor per kernel size (nothing shared between sizes).
"""
from __future__ import annotations

import torch

from eqnas.nn.conv import EquivariantConv2d
from eqnas.registry import Registry
from eqnas.supernet.names import store_key

Convs = dict[str, dict[int, EquivariantConv2d]]  # layer path -> kernel size -> a conv of that size


def coefficients_key(path: str, kernel: int) -> str:
    return store_key(path, f"coefficients@k{kernel}")


def map_key(path: str, kernel: int) -> str:
    return store_key(path, f"kernel_map@k{kernel}")


def projection(small: torch.Tensor, large: torch.Tensor) -> torch.Tensor:
    """[K_large, K_small]: each large basis element's centre crop, in the small basis (least squares).

    `small` [K_s, o, i, k, k] and `large` [K_l, o, i, L, L] are the normalised bases of one pair of fields.
    """
    k, size = small.shape[-1], large.shape[-1]
    start = (size - k) // 2
    crop = large[..., start:start + k, start:start + k].reshape(large.shape[0], -1).double()
    # small^T M^T = crop^T, solved for M^T: [D, K_s] x [K_s, K_l] = [D, K_l]
    solution = torch.linalg.lstsq(small.reshape(small.shape[0], -1).double().T, crop.T).solution
    return solution.T.float().contiguous()


class MappedKernels:
    """Largest-kernel coefficients, mapped to each smaller kernel by a learned matrix."""

    name = "map"

    def finalise(self, values: dict[str, torch.Tensor], convs: Convs) -> set[str]:
        """Replaces the smaller kernels' coefficient entries by map entries (in place); returns
        the keys it added (trainable)."""
        added = set()
        for path, sizes in convs.items():
            largest = max(sizes)
            for kernel in sizes:
                if kernel != largest:
                    del values[coefficients_key(path, kernel)]
                    values[map_key(path, kernel)] = projection(sizes[kernel].basis, sizes[largest].basis)
                    added.add(map_key(path, kernel))
        return added

    def coefficients(self, store, path: str, conv: EquivariantConv2d, largest: int) -> torch.Tensor:
        out_f, in_f, _ = conv.coefficients.shape
        large = store.tensor(coefficients_key(path, largest))[:out_f, :in_f]
        if conv.kernel == largest:
            return large
        return large @ store.tensor(map_key(path, conv.kernel))  # [O, I, K_l] x [K_l, K_s] -> [O, I, K_s]


class SeparateKernels:
    """One coefficient tensor per kernel size."""

    name = "separate"

    def finalise(self, values: dict[str, torch.Tensor], convs: Convs) -> set[str]:
        return set()

    def coefficients(self, store, path: str, conv: EquivariantConv2d, largest: int) -> torch.Tensor:
        out_f, in_f, _ = conv.coefficients.shape
        return store.tensor(coefficients_key(path, conv.kernel))[:out_f, :in_f]


KERNEL_MODES: Registry = Registry("kernel mode")
KERNEL_MODES.add(MappedKernels.name, MappedKernels())
KERNEL_MODES.add(SeparateKernels.name, SeparateKernels())
