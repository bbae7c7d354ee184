"""The EfficientNet procedure for equivariant networks, run and recorded.

Step 1 (phi = 1): every grid point (alpha, beta, gamma[, group]) with alpha beta^2 gamma^2 ~ 2 is
built, its FLOPs measured with fvcore; points over the budget are recorded as rejected and never
trained; the rest are trained with the search proxy (points that round to the same network are
trained once). The best point wins. Step 2: the base is scaled by phi = 1..K, each scaled
network's width corrected until its measured FLOPs are within 10% of 2^phi x the base's.
Records are append-only (`grid.jsonl`), so an interrupted run resumes.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from eqnas.arch import Arch
from eqnas.errors import EqnasError
from eqnas.profiling import FLOP_CONVENTION, arch_flops, arch_params, format_flops
from eqnas.scaling.compound import FLOP_TOLERANCE, Coefficients, coefficient_grid, scale_arch, scale_to_target
from eqnas.search.records import TrialLog, TrialRecord, arch_identity

TrainFn = Callable[[Arch], float]
DEFAULT_BUDGET_FACTOR = 2.2  # phi = 1 aims at 2x the base; rounding may overshoot a little


@dataclass(frozen=True)
class ScaleConfig:
    phis: tuple[int, ...] = (1, 2, 3)
    flops_max: int | None = None       # bound on each phi = 1 grid point; None: DEFAULT_BUDGET_FACTOR x base
    groups: tuple[str, ...] = ()        # the group axis, e.g. ("C4", "C8", "C16"); empty: base group only
    grid_step: float = 0.1
    grid_tolerance: float = 0.1         # |alpha beta^2 gamma^2 - 2| allowed on the nominal grid


def parse_phis(text: str) -> tuple[int, ...]:
    """'1..3' or '1,2,4'."""
    try:
        if ".." in text:
            low, high = (int(part) for part in text.split(".."))
            phis = tuple(range(low, high + 1))
        else:
            phis = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise EqnasError(f"bad --phi {text!r}: use a range like 1..3 or a list like 1,2,4") from None
    if not phis or any(phi < 1 for phi in phis):
        raise EqnasError(f"bad --phi {text!r}: phi values must be positive integers")
    return phis


def _key(c: Coefficients) -> str:
    return f"alpha={c.alpha}|beta={c.beta}|gamma={c.gamma}|group={c.group or '-'}"


def run_compound(base: Arch, config: ScaleConfig, train_fn: TrainFn, out_dir: Path,
                 echo: Callable[[str], None] = print, base_flops: int | None = None) -> dict:
    """`base_flops`: the base's FLOPs when the caller has counted them already."""
    out_dir.mkdir(parents=True, exist_ok=True)
    base.save(out_dir / "base.json")
    base_flops = arch_flops(base) if base_flops is None else base_flops
    budget = config.flops_max or int(DEFAULT_BUDGET_FACTOR * base_flops)
    groups = config.groups or (None,)
    grid = coefficient_grid(config.grid_step, tolerance=config.grid_tolerance, groups=groups)
    log = TrialLog(out_dir / "grid.jsonl")
    done = {r.key: r for r in log.read()}
    by_arch: dict[str, TrialRecord] = {arch_identity(r.arch): r for r in done.values() if r.status == "ok"}
    echo(f"base {format_flops(base_flops)} FLOPs; {len(grid)} grid points at phi=1, budget {format_flops(budget)}")
    for index, point in enumerate(grid, start=1):
        key = _key(point)
        if key in done:
            continue
        arch = scale_arch(base, point.alpha, point.beta, point.gamma, point.group)
        flops = arch_flops(arch)
        sample = asdict(point)
        if flops > budget:
            log.append(TrialRecord(key=key, status="rejected", sample=sample, arch=arch.to_dict(), flops=flops,
                                   params=None, metric=None, seconds=0.0, error="over budget", trial=index))
            continue
        identity = arch_identity(arch.to_dict())
        started = time.perf_counter()
        if identity in by_arch:  # rounding made the same network: trained once
            metric, status, error = by_arch[identity].metric, "ok", ""
            extra, params = {"same_as": by_arch[identity].key}, by_arch[identity].params
        else:
            extra, params = {}, arch_params(arch)
            try:
                metric, status, error = float(train_fn(arch)), "ok", ""
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                metric, status, error = None, "failed", f"{type(exc).__name__}: {exc}"
        record = TrialRecord(key=key, status=status, sample=sample, arch=arch.to_dict(), flops=flops,
                             params=params, metric=metric,
                             seconds=round(time.perf_counter() - started, 3), error=error, trial=index, extra=extra)
        log.append(record)
        if status == "ok":
            by_arch.setdefault(identity, record)
        echo(f"grid {index}/{len(grid)} {key}: {format_flops(flops)} FLOPs ({flops / base_flops:.2f}x), "
             f"metric {metric if metric is None else round(metric, 4)}")
    return _finish(base, base_flops, budget, config, log, out_dir, echo)


def _finish(base: Arch, base_flops: int, budget: int, config: ScaleConfig, log: TrialLog, out_dir: Path,
            echo: Callable[[str], None]) -> dict:
    records = log.read()
    ok = [r for r in records if r.status == "ok"]
    if not ok:
        raise EqnasError("no grid point could be trained within the budget: raise --flops or lower --grid-step")
    best = max(ok, key=lambda r: (r.metric, -r.flops))
    coefficients = Coefficients(**best.sample)
    scaled = []
    for phi in config.phis:
        target = base_flops * 2**phi
        arch, flops = scale_to_target(base, coefficients, phi, target)
        arch = arch.replace(name=f"{base.name or 'base'} compound-scaled phi={phi}")
        arch.save(out_dir / f"phi{phi}.json")
        ratio = flops / target
        scaled.append({"phi": phi, "flops": flops, "target": target, "ratio": ratio,
                       "within_10_percent": abs(ratio - 1) <= FLOP_TOLERANCE, "file": f"phi{phi}.json"})
        echo(f"phi={phi}: {format_flops(flops)} FLOPs, {ratio:.3f} x target 2^{phi} x base -> {out_dir / f'phi{phi}.json'}")
    summary = {
        "base_flops": base_flops, "coefficients": asdict(coefficients), "best_metric": best.metric,
        "grid_points": len(records), "trained": len({r.key for r in ok if not r.extra.get('same_as')}),
        "rejected": sum(r.status == "rejected" for r in records), "failed": sum(r.status == "failed" for r in records),
        "scaled": scaled, "flop_convention": FLOP_CONVENTION,
    }
    (out_dir / "coefficients.json").write_text(json.dumps(summary, indent=2))
    _write_grid_table(records, out_dir / "grid.md", base_flops)
    from eqnas.search.pareto import plot_pareto

    plot_pareto(records, out_dir / "grid.png", "proxy metric", budget)
    echo(f"best: alpha={coefficients.alpha} beta={coefficients.beta} gamma={coefficients.gamma}"
         f"{' group=' + coefficients.group if coefficients.group else ''} (proxy metric {best.metric:.4f})")
    return summary


def _write_grid_table(records: list[TrialRecord], path: Path, base_flops: int) -> None:
    rows = ["| alpha | beta | gamma | group | FLOPs | x base | status | metric |", "|---|---|---|---|---|---|---|---|"]
    for r in sorted(records, key=lambda r: (r.status != "ok", -(r.metric or 0))):
        s = r.sample
        metric = "-" if r.metric is None else f"{r.metric:.4f}"
        rows.append(f"| {s['alpha']} | {s['beta']} | {s['gamma']} | {s['group'] or '-'} | {format_flops(r.flops)} "
                    f"| {r.flops / base_flops:.2f} | {r.status} | {metric} |")
    path.write_text("\n".join(rows) + "\n")


def compound_from_space(space, search_config, out_dir: Path, device: str, echo: Callable[[str], None] = print) -> dict:
    """`eqnas search --strategy compound`: the space's smallest network is the base; phi runs up
    to the largest value whose 2^phi x base stays within --flops."""
    from eqnas.search.flop_filter import FlopFilter
    from eqnas.search.proxy import proxy_trainer

    flop_filter = FlopFilter(space, search_config.flops_max, search_config.flops_min)
    flop_filter.check_feasible()
    sample, base_flops = flop_filter.extreme_sample(min)
    base = space.to_arch(sample)
    top = 0
    while base_flops * 2 ** (top + 1) <= search_config.flops_max:
        top += 1
    if top == 0:
        raise EqnasError(f"--flops {format_flops(search_config.flops_max)} leaves no room to scale the space's "
                         f"smallest network ({format_flops(base_flops)}): compound scaling needs at least 2x")
    config = ScaleConfig(phis=tuple(range(1, top + 1)), flops_max=min(search_config.flops_max, int(DEFAULT_BUDGET_FACTOR * base_flops)))
    echo(f"compound scaling of {space.name}'s smallest network ({format_flops(base_flops)}), phi = 1..{top}")
    return run_compound(base, config, proxy_trainer(space.proxy, device), out_dir, echo, base_flops)
