"""report.md of `eqnas laws`: the fits with intervals, the compute-optimal exponents from
approaches 3 and 2 side by side, samples per parameter, the hold-out check and every observation."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eqnas.scaling.intervals import Estimate
from eqnas.scaling.isoflop_fit import METHOD as ISOFLOP_METHOD
from eqnas.scaling.law_analysis import FamilyFit, agreement, bound_notes
from eqnas.scaling.law_fit import PARAM_NAMES
from eqnas.scaling.law_sweep import FLOP_CONVENTION

RATIO_MEANING = ("D_opt / N_opt is training images per trainable parameter at the compute-optimal point "
                 "(compute counted as one pass over the images, C = k N^p D), the analogue of Chinchilla's ~20 tokens per parameter. It grows as C^(b - a), so it is "
                 "one number only when a = b; and a CNN sample costs k N^p FLOPs (width, depth, resolution), not "
                 "6 N, so a ratio does not carry over between families or groups.")


def report_markdown(families: Sequence[FamilyFit], budgets: np.ndarray) -> str:
    """The whole report."""
    lines = ["# Scaling laws", "", "L(N, D) = E + A / N^alpha + B / D^beta; N = trainable parameters, "
             "D = training images (each point trained until its validation loss stopped falling), L = lowest "
             "validation cross-entropy. Compute-optimal N and D and approach 2 count one pass over the D images "
             "(3 x forward FLOPs x D); the epochs each point trained are in its train FLOPs. "
             "Fitted by the summed Huber loss of log L (L-BFGS-B from a grid of starts).",
             f"Compute: {FLOP_CONVENTION}.", "", "## Fits", "",
             "| family | points (ok / failed) | held out | E | A | B | alpha | beta | Huber (sum) |", "|---" * 9 + "|"]
    for f in families:
        counts = f"{len(f.ok)} / {len(f.records) - len(f.ok)}"
        if f.law is None:
            lines.append(f"| {f.label} | {counts} | {len(f.held_out)} | {f.problem} | | | | | |")
            continue
        cells = [f.law.estimate(name).text(".4g") for name in PARAM_NAMES]
        lines.append(f"| {f.label} | {counts} | {len(f.held_out)} | {' | '.join(cells)} | {f.law.huber_loss:.3g} |")
    level = next((f.law.ci_level for f in families if f.law is not None), 0.95)
    lines += ["", f"Brackets: {100 * level:.0f}% bootstrap intervals (observations resampled)."]
    lines += [f"- {f.label}: {note}" for f in families if f.law is not None for note in bound_notes(f.law)]
    lines += ["", "## Compute-optimal exponents: approach 3 and approach 2", "", *_exponent_table(families, budgets)]
    lines += ["", "## Compute-optimal N and D", "", *_optima_table(families, budgets)]
    lines += ["", "## Samples per parameter", "", RATIO_MEANING, "", *_ratio_table(families, budgets)]
    lines += _holdout_section(families)
    for f in families:
        lines += _observations(f)
    return "\n".join(lines) + "\n"


def _exponent_table(families: Sequence[FamilyFit], budgets: np.ndarray) -> list[str]:
    lines = ["N_opt ∝ C^a. Approach 3: a = beta / (alpha + beta) (Chinchilla's form, compute ∝ N D) and, under "
             "the FLOP model C = k N^p D, a = beta / (alpha + p beta), b = alpha / (alpha + p beta) for D_opt ∝ C^b. "
             f"Approach 2 (IsoFLOP parabolas) on the same points: {ISOFLOP_METHOD}; it measures the FLOP-model a.", "",
             "| family | a = β/(α+β) | p | a (FLOP model) | b (FLOP model) | a, approach 2 | levels | difference | "
             "intervals overlap |", "|---" * 9 + "|"]
    notes = []
    for f in families:
        summary = f.summary(budgets)
        if summary is None:
            continue
        a2 = f.isoflop.a if f.isoflop else None
        agree = agreement(f, budgets)
        p = "-" if f.flop_model is None else f"{f.flop_model.p:.3f}"
        levels = len(f.isoflop.levels) if f.isoflop else 0
        diff = "-" if agree is None else f"{agree['difference']:+.3f}"
        overlap = "-" if agree is None or agree["intervals_overlap"] is None else (
            "yes" if agree["intervals_overlap"] else "no")
        lines.append(f"| {f.label} | {_text(summary.a)} | {p} | {_text(summary.a_frontier)} | "
                     f"{_text(summary.b_frontier)} | {_text(a2)} | {levels} | {diff} | {overlap} |")
        if f.isoflop_problem:
            notes.append(f"- {f.label}, approach 2: {f.isoflop_problem}")
    return lines + ([""] + notes if notes else [])


def _optima_table(families: Sequence[FamilyFit], budgets: np.ndarray) -> list[str]:
    found = {f.label: f.optima(budgets) for f in families}
    lines = ["| budget C (FLOPs) | " + " | ".join(f"{f.label} N_opt | D_opt | loss" for f in families) + " |",
             "|---|" + "---|---|---|" * len(families)]
    for i, budget in enumerate(budgets):
        cells = []
        for f in families:
            best = found[f.label][0]
            cells += [f"{best[i].N:.3g}", f"{best[i].D:.3g}", f"{best[i].loss:.4f}"] if best else ["-", "-", "-"]
        lines.append(f"| {budget:.3g} | " + " | ".join(cells) + " |")
    lines += [f"- {label}: {why}" for label, (best, why) in found.items() if not best]
    return lines


def _ratio_table(families: Sequence[FamilyFit], budgets: np.ndarray) -> list[str]:
    ratios = {}
    for f in families:
        summary = f.summary(budgets)
        ratios[f.label] = {} if summary is None else dict(summary.samples_per_parameter)
    lines = ["| budget C (FLOPs) | " + " | ".join(f"{f.label} D_opt / N_opt" for f in families) + " |",
             "|---|" + "---|" * len(families)]
    for budget in budgets:
        lines.append(f"| {budget:.3g} | " + " | ".join(_text(ratios[f.label].get(float(budget)))
                                                       for f in families) + " |")
    return lines


def _holdout_section(families: Sequence[FamilyFit]) -> list[str]:
    held = [f for f in families if f.held_out]
    if not held:
        return []
    lines = ["", "## Extrapolation: held-out runs", "",
             "Each law is fitted without its runs of largest training compute; the error is the RMSE of log loss "
             "of its predictions for them.", ""]
    lines += [f"- {f.label}: {len(f.held_out)} held out, RMSE of log loss "
              + ("-" if f.holdout_rmse() is None else f"{f.holdout_rmse():.4f}") for f in held]
    lines += ["", "| family | N | D | train FLOPs | observed | predicted | log error |", "|---" * 7 + "|"]
    for f in held:
        if f.law is None:
            continue
        for r in f.held_out:
            predicted = float(f.law.predict(r.params, r.data_size))
            lines.append(f"| {f.label} | {r.params} | {r.data_size} | {r.train_flops:.3g} | {r.loss:.4f} | "
                         f"{predicted:.4f} | {np.log(predicted / r.loss):+.4f} |")
    return lines


def _observations(f: FamilyFit) -> list[str]:
    lines = ["", f"## Observations: {f.label}", "",
             "| N | D (images) | samples seen | train FLOPs | loss | predicted | acc | epsilon | seconds | status |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(f.records, key=lambda r: (r.params, r.data_size)):
        predicted = None if f.law is None or r.loss is None else float(f.law.predict(r.params, r.data_size))
        status = r.status + (" (held out)" if r in f.held_out else "") + (f": {r.error[:80]}" if r.error else "")
        cells = [r.params, r.data_size, r.samples_seen, f"{r.train_flops:.3g}", _num(r.loss, ".4f"),
                 _num(predicted, ".4f"), _num(r.acc, ".3f"), _num(r.epsilon, ".2f"), f"{r.seconds:.1f}", status]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return lines


def _text(value: Estimate | None) -> str:
    return "-" if value is None else value.text()


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)
