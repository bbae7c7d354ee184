"""Trained c8_resnet supernets (within 100M) scored on both reference sets: the 12 of run.sh step 1
(picked from the space's samples, ten of them two-stage) and the 12 picked from its distinct
networks (`rank_fidelity.py --distinct`, ten of them three-stage); Kendall tau, Spearman rho and
tau within the top third against the two-seed reference means, on each set, on their union (23
networks: one is in both) and within the two-stage and the three-stage networks of the union.
Scored as the search scores (500 validation images, seed 0) and on a second 500-image subset.

    python docs/results/supernet_c8_resnet/distinct/score.py [--val 500] [--metric acc] NAME=RUN_FOLDER... > score.log

--metric loss ranks by the validation cross-entropy (lower first) instead of the accuracy.

RUN_FOLDER holds supernet.pt (e.g. runs/c8-sn-cpu/separate/supernet/all). Writes score.json here
(score_val<N>.json for another --val: validation images per subset; score_loss*.json by loss).
"""
import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "benchmarks"))
from supernet_rank import references  # noqa: E402
from eqnas.data.registry import load_dataset  # noqa: E402
from eqnas.search import rank_stats  # noqa: E402
from eqnas.search.space import SearchSpace, fit_to_data, load_space  # noqa: E402
from eqnas.supernet.record import load_supernet  # noqa: E402
from eqnas.supernet.score import score_data, score_subnet  # noqa: E402


def reference_groups(space: SearchSpace) -> tuple[dict[str, tuple[dict, float]], dict[str, list[str]]]:
    """(union: key -> (sample, two-seed mean), group name -> its keys): both reference sets, their
    union, and the union's two-stage and three-stage networks (read from runs/rank_fidelity)."""
    sets = {name: references(ROOT / "runs/rank_fidelity" / f"{file}.jsonl", "3x20000")
            for name, file in (("samples", "c8_resnet_100M"), ("distinct", "c8_resnet_100M_distinct"))}
    union = {**sets["samples"], **sets["distinct"]}
    stages = {key: len(space.to_arch(sample).stages) for key, (sample, _) in union.items()}
    groups = {**{name: sorted(refs) for name, refs in sets.items()}, "union": sorted(union),
              "union, two-stage": sorted(k for k in union if stages[k] == 2),
              "union, three-stage": sorted(k for k in union if stages[k] == 3)}
    return union, groups


def rank_rows(label: str, scores: dict, union: dict, groups: dict[str, list[str]], rho: bool = True) -> dict:
    """{(group, subset): {"n", "tau"[, "rho"], "top_third"}} of `scores` ({subset: {key: score}})
    against the two-seed reference means, each printed as a line beginning with `label`."""
    rows = {}
    for group, keys in groups.items():
        truth = [union[k][1] for k in keys]
        for subset, by_key in scores.items():
            mine = [by_key[k] for k in keys]
            row = {"n": len(keys), "tau": rank_stats.kendall_tau(mine, truth)}
            if rho:
                row["rho"] = rank_stats.spearman_rho(mine, truth)
            row["top_third"] = rank_stats.tau_within_top(mine, truth) if len(keys) >= 9 else None
            rows[group, subset] = row
            extra = (f", rho {row['rho']:.2f}" if rho else "") + (
                "" if row["top_third"] is None else f", top third {row['top_third']:.2f}")
            print(f"{label}: {group} ({len(keys)}), val subset {subset}: tau {row['tau']:.2f}{extra}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--val", type=int, default=500, help="validation images per subset")
    parser.add_argument("--metric", choices=("acc", "loss"), default="acc")
    parser.add_argument("supernets", nargs="+", metavar="NAME=RUN_FOLDER")
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = fit_to_data(load_space(ROOT / "spaces/c8_resnet.yaml"))
    union, groups = reference_groups(space)
    splits = load_dataset(space.proxy.data, space.proxy.data_root, resolution=max(space.choices["resolution"]),
                          seed=space.proxy.seed)
    sign = -1.0 if args.metric == "loss" else 1.0  # a lower loss ranks higher
    subsets = {seed: score_data(splits, seed=seed, val_size=args.val) for seed in (0, 1)}
    result = {"references": {k: {"mean": union[k][1], "stages": len(space.to_arch(union[k][0]).stages)} for k in union},
              "supernets": {}}
    for arg in args.supernets:
        name, folder = arg.split("=", 1)
        supernet = load_supernet(ROOT / folder).eval()
        scores = {seed: {k: sign * score_subnet(supernet, union[k][0], data)[args.metric] for k in union}
                  for seed, data in subsets.items()}
        rows = {f"{group} / val seed {seed}": row
                for (group, seed), row in rank_rows(name, scores, union, groups).items()}
        label = "acc" if args.metric == "acc" else f"-{args.metric}"
        result["supernets"][name] = {"folder": folder, label: {str(s): v for s, v in scores.items()}, "rank": rows}
    stem = "score" if args.metric == "acc" else f"score_{args.metric}"
    Path(__file__).with_name(stem + ("" if args.val == 500 else f"_val{args.val}") + ".json").write_text(
        json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
