"""Kernel bases and restriction maps, computed once with escnn and cached in memory and on disk.

This is the only module that imports escnn. Everything downstream works on plain tensors:
a basis of shape [K, out_size, in_size, k, k] for one pair of fields, so a filter is
coefficients x basis. The disk cache (`$EQNAS_CACHE`, default ~/.cache/eqnas) lets a machine
without escnn (a GPU box, say) run networks whose bases were computed elsewhere.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eqnas.errors import EqnasError
from eqnas.groups import Group


def cache_dir() -> Path:
    return Path(os.environ.get("EQNAS_CACHE", Path.home() / ".cache" / "eqnas")) / "bases"


def _cached_tensor(name: str, compute) -> torch.Tensor:
    path = cache_dir() / f"{name}.pt"
    if path.exists():
        return torch.load(path, weights_only=True, map_location="cpu")
    value = compute()
    _write_atomically(path, lambda tmp: torch.save(value, tmp))
    return value


def _cached_json(name: str, compute) -> Any:
    path = cache_dir() / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    value = compute()
    _write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(value)))
    return value


def _write_atomically(path: Path, write) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        write(tmp)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs recomputation


def _escnn() -> Any:
    import escnn.group._numerical as numerical

    # escnn hands np.matrix to scikit-learn's randomized_svd, which current scikit-learn rejects
    # (escnn issue 112). Without it escnn falls back to numpy's exact SVD, also more accurate.
    numerical.randomized_svd = None
    import escnn

    return escnn


def _gspace(group: Group) -> Any:
    gspaces = _escnn().gspaces

    if group.kind == "C":
        return gspaces.rot2dOnR2(group.rotations)
    return gspaces.flipRot2dOnR2(group.rotations)


def _subgroup_id(parent: Group, child: Group) -> Any:
    """escnn's name for `child` inside `parent` (reflection on axis 0 where both have one)."""
    if parent.kind == "C":
        return child.rotations
    return (0 if child.kind == "D" else None, child.rotations)


@lru_cache(maxsize=None)
def kernel_basis(group: Group, in_regular: bool, out_regular: bool, kernel: int) -> torch.Tensor:
    """Equivariant kernels from one field to one field: [K, out_size, in_size, kernel, kernel].

    For the trivial group every kernel is equivariant, so the basis is the identity and a
    trivial network is exactly a plain CNN (escnn's band-limited basis would drop parameters);
    it may have an even size. Other groups rotate about a centre pixel: odd sizes only. Always
    on the CPU (the cache keeps it), also while the default device is "meta".
    """
    with torch.device("cpu"):
        if group.is_trivial and kernel >= 1:
            return torch.eye(kernel * kernel).reshape(kernel * kernel, 1, 1, kernel, kernel)
        if kernel < 1 or kernel % 2 == 0:
            raise EqnasError(f"kernel size {kernel} is not supported for {group}: use an odd size >= 1 "
                             f"(even sizes only for the trivial group)")
        name = f"{group.name}_{'reg' if in_regular else 'triv'}_{'reg' if out_regular else 'triv'}_k{kernel}"
        return _cached_tensor(name, lambda: _escnn_basis(group, in_regular, out_regular, kernel))


def _escnn_basis(group: Group, in_regular: bool, out_regular: bool, kernel: int) -> torch.Tensor:
    enn = _escnn().nn
    gspace = _gspace(group)
    rep_in = gspace.regular_repr if in_regular else gspace.trivial_repr
    rep_out = gspace.regular_repr if out_regular else gspace.trivial_repr
    conv = enn.R2Conv(
        enn.FieldType(gspace, [rep_in]), enn.FieldType(gspace, [rep_out]), kernel,
        padding=kernel // 2, initialize=False,
    )
    expansion = conv.basisexpansion
    size = expansion.dimension()
    eye = torch.eye(size)
    with torch.no_grad():
        filters = [expansion(eye[i]).reshape(rep_out.size, rep_in.size, kernel, kernel) for i in range(size)]
    return torch.stack(filters).float().contiguous()


@lru_cache(maxsize=None)
def regular_matrices(group: Group) -> np.ndarray:
    """The regular representation as permutation matrices [|G|, |G|, |G|], in escnn's element order."""
    if group.is_trivial:
        return np.ones((1, 1, 1), dtype=np.int64)

    def compute() -> list:
        fiber = _gspace(group).fibergroup
        return np.stack([fiber.regular_representation(g) for g in fiber.elements]).round().astype(int).tolist()

    return np.asarray(_cached_json(f"{group.name}_regular", compute), dtype=np.int64)


@lru_cache(maxsize=None)
def restriction_permutation(parent: Group, child: Group) -> tuple[int, ...]:
    """Channel order that reads one regular field of `parent` as [parent:child] regular fields of `child`.

    The regular representation of G restricted to H is [G:H] copies of H's regular one, up to
    a permutation of channels; this returns that permutation (new channel -> old channel) and
    checks it against the representation matrices.
    """
    if not child.is_subgroup_of(parent):
        raise EqnasError(f"{child} is not a subgroup of {parent}: cannot restrict {parent} to {child}")
    if child == parent:
        return tuple(range(parent.order))
    return tuple(_cached_json(f"restrict_{parent.name}_{child.name}", lambda: _restriction_order(parent, child)))


def _restriction_order(parent: Group, child: Group) -> list[int]:
    if child.is_trivial and parent.kind == "C":
        embedded = [np.eye(parent.order, dtype=np.int64)]
    else:
        fiber = _gspace(parent).fibergroup
        sub, embed, _ = fiber.subgroup(_subgroup_id(parent, child))
        embedded = [fiber.regular_representation(embed(h)).round().astype(np.int64) for h in sub.elements]
    covered: set[int] = set()
    order: list[int] = []
    for seed in range(parent.order):
        if seed in covered:
            continue
        orbit = [int(np.argmax(matrix[:, seed])) for matrix in embedded]
        covered.update(orbit)
        order.extend(orbit)
    _check_restriction(order, embedded, regular_matrices(child))
    return order


def _check_restriction(order: list[int], embedded: list[np.ndarray], child_regular: np.ndarray) -> None:
    perm = np.eye(len(order), dtype=np.int64)[order]  # new <- old
    copies = len(order) // child_regular.shape[1]
    for matrix, child_matrix in zip(embedded, child_regular):
        expected = np.kron(np.eye(copies, dtype=np.int64), child_matrix)
        if not np.array_equal(perm @ matrix @ perm.T, expected):
            raise RuntimeError("restriction permutation does not intertwine the representations")
