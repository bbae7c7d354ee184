"""Is the supernets' rank error noise or bias? The inherited accuracies of the eight supernets trained
here within the baseline's recipe and cost by session 11 (`EIGHT`, one file per training; not the
teachers or the later trainings) are averaged per reference network and ranked against the two-seed
reference means: if each training's error were its own noise, the average of eight would rank better
than any one. Then each network's average against a straight line through (reference, average):
which choices the shared weights underrate.

    python docs/results/supernet_c8_resnet/variants/pooled.py > docs/results/supernet_c8_resnet/variants/pooled.log

Other trainings given as file names here (`pooled.py balanced_2x20000_seed0.json ...`) are read
instead of the eight, and their networks set against their own line.
"""
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))
from eqnas.search.rank_stats import kendall_tau  # noqa: E402

EIGHT = ("baseline_2x20000", "baseline_retrained_2x20000", "distinct_draws_2x20000", "frontier_2x20000",
         "labels_2x20000", "random3_2x20000", "zero_init_2x20000", "longer_3x20000_one_random")  # named: later files share the pattern
SUBSETS = ("500/0", "500/1", "2000/0")
first = json.loads((HERE / "baseline_2x20000.json").read_text())  # its reference means are today's (two seeds each, a seed counted once)
keys, truth = first["keys"], np.array(first["truth"])


def aligned(run: dict, subset: str) -> np.ndarray:
    """The run's accuracies in `keys`' order (each file lists the references in its own)."""
    by_key = dict(zip(run["keys"], run["acc"][subset]))
    return np.array([by_key[key] for key in keys])


def main() -> None:
    files = [HERE / name for name in sys.argv[1:]] or [HERE / f"{name}.json" for name in EIGHT]
    runs = {path.stem: json.loads(path.read_text()) for path in files}
    for name, run in runs.items():  # frontier's file keeps the means of before the last two seed-1 references
        assert sorted(run["keys"]) == sorted(keys), name
    print(f"{len(runs)} supernet trainings: {', '.join(runs)}")
    print("subset     each training's tau                            mean of the taus  tau of the mean accuracy")
    for subset in SUBSETS:
        taus = [kendall_tau(aligned(run, subset), truth) for run in runs.values()]
        pooled = np.mean([aligned(run, subset) for run in runs.values()], axis=0)
        print(f"{subset:8s}   {' '.join(f'{t:5.2f}' for t in taus)}   {np.mean(taus):5.2f}             "
              f"{kendall_tau(pooled, truth):5.2f}")

    pooled = np.mean([aligned(run, "2000/0") for run in runs.values()], axis=0)
    slope, intercept = np.polyfit(truth, pooled, 1)
    print(f"\nmean inherited accuracy on 2,000 images against the reference: fit {intercept:.3f} + {slope:.3f} x reference")
    print("reference  inherited  off the line  network")
    for key, ref, inherited in sorted(zip(keys, truth, pooled), key=lambda row: row[1]):
        short = key.replace("stages.", "s").replace("num_stages", "stages")
        print(f"{ref:.3f}      {inherited:.3f}      {inherited - (intercept + slope * ref):+.3f}        {short}")


if __name__ == "__main__":
    main()
