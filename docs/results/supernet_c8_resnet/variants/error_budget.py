"""How much per-network error the bar's tau >= 0.6 leaves, and how much each supernet has.

No training: read back from every training's committed JSON here (inherited accuracies of the 12
references on two 500-image validation subsets and on 2,000 images, and the two-seed reference
means).

1. The score's own noise. The 12 networks are scored on the same images, so what reorders them
   is not a 500-image accuracy's standard error (about 2 points) but how differently the networks
   do on one subset than on another: the spread of (subset 0 - subset 1) across the networks,
   centred and divided by sqrt(2), is one subset's noise relative to the other networks.
2. The weights' own error. On 2,000 images each training's inherited accuracies against a
   straight line through (reference mean, inherited): its slope and the residuals' spread. The
   reference means are baseline_2x20000.json's, today's (pooled.py's; frontier_2x20000.json
   keeps older ones, so its tau here is not its log's).
3. What the bar needs. A scorer that is `slope` x the reference means plus an independent error
   per network of e points plus the 2,000-image noise (half the 500-image noise), ranked against
   the same means, 4,000 draws per e: its mean tau and how often it reaches 0.6.

    python docs/results/supernet_c8_resnet/variants/error_budget.py > docs/results/supernet_c8_resnet/variants/error_budget.log
"""
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from pooled import SUBSETS, aligned, truth  # noqa: E402  (today's reference means, in pooled.py's order)
from eqnas.search.rank_stats import kendall_tau  # noqa: E402  (pooled.py puts the repository on the path)

runs = {}
for path in sorted(HERE.glob("*.json")):
    run = json.loads(path.read_text())
    if isinstance(run, dict) and all(subset in run.get("acc", {}) for subset in SUBSETS):
        runs[path.stem] = {subset: aligned(run, subset) for subset in SUBSETS}

print(f"{len(runs)} trainings; points of accuracy")
print(f"{'training':40s} {'500-image noise':>15s} {'slope':>6s} {'residual':>9s} {'tau, 2,000':>10s}")
noises, slopes, residuals = [], [], []
for name, run in runs.items():
    difference = run["500/0"] - run["500/1"]
    noise = np.std(difference - difference.mean(), ddof=1) / np.sqrt(2)
    slope, intercept = np.polyfit(truth, run["2000/0"], 1)
    residual = np.std(run["2000/0"] - (slope * truth + intercept), ddof=2)
    noises.append(noise)
    slopes.append(slope)
    residuals.append(residual)
    print(f"{name:40s} {100 * noise:15.2f} {slope:6.2f} {100 * residual:9.2f} {kendall_tau(run['2000/0'], truth):10.2f}")
noise, slope = float(np.median(noises)), float(np.median(slopes))
print(f"{'median':40s} {100 * noise:15.2f} {slope:6.2f} {100 * np.median(residuals):9.2f}")

rng = np.random.default_rng(0)
print(f"\na scorer = {slope:.2f} x reference mean + an independent error per network + {100 * noise / 2:.2f} points "
      f"of 2,000-image noise, against the same 12 reference means (4,000 draws each)")
print(f"{'error per network':>18s} {'mean tau':>9s} {'P(tau >= 0.6)':>14s}")
for error in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0):
    spread = np.hypot(error / 100, noise / 2)
    taus = np.array([kendall_tau(slope * truth + rng.normal(0, spread, truth.size), truth) for _ in range(4000)])
    print(f"{error:18.1f} {taus.mean():9.2f} {np.mean(taus >= 0.6):14.2f}")
