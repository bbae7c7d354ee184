"""Kernel bases: the disk cache returns what escnn computed, and the bases are equivariant."""
from __future__ import annotations

import pytest
import torch

from eqnas.groups import parse_group
from eqnas.nn import basis


def test_disk_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("EQNAS_CACHE", str(tmp_path))
    group = parse_group("D4")
    computed = basis._escnn_basis(group, True, True, 3)
    basis.kernel_basis.cache_clear()
    first = basis.kernel_basis(group, True, True, 3)  # computes and writes
    assert (tmp_path / "bases" / "D4_reg_reg_k3.pt").exists()
    basis.kernel_basis.cache_clear()
    second = basis.kernel_basis(group, True, True, 3)  # reads
    assert torch.equal(first, computed) and torch.equal(second, computed)


@pytest.mark.parametrize("name,kernel", [("C4", 3), ("C8", 5), ("D4", 3), ("D8", 3)])
def test_basis_filters_commute_with_the_quarter_turn(name, kernel):
    """For the 90 degree rotation r: rot90(W) = P_out(r) W P_in(r)^T for every basis filter."""
    group = parse_group(name)
    filters = basis.kernel_basis(group, True, True, kernel)  # [K, out, in, k, k]
    matrices = torch.tensor(basis.regular_matrices(group), dtype=torch.float32)
    quarter = group.rotations // 4  # escnn's element index of the 90 degree rotation
    rep = matrices[quarter]
    rotated = torch.rot90(filters, 1, dims=(-2, -1))
    permuted = torch.einsum("ab,kbcxy,dc->kadxy", rep, filters, rep)
    assert torch.allclose(rotated, permuted, atol=1e-5) or torch.allclose(
        torch.rot90(filters, -1, dims=(-2, -1)), permuted, atol=1e-5)
