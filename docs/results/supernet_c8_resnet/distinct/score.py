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
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "benchmarks"))
from supernet_rank import references  # noqa: E402
from eqnas.data.registry import load_dataset  # noqa: E402
from eqnas.search import rank_stats  # noqa: E402
from eqnas.search.space import fit_to_data, load_space  # noqa: E402
from eqnas.supernet.record import load_supernet  # noqa: E402
from eqnas.supernet.score import score_data, score_subnet  # noqa: E402

torch.set_num_threads(1)
space = fit_to_data(load_space(ROOT / "spaces/c8_resnet.yaml"))
sets = {name: references(ROOT / "runs/rank_fidelity" / f"{file}.jsonl", "3x20000")
        for name, file in (("samples", "c8_resnet_100M"), ("distinct", "c8_resnet_100M_distinct"))}
union = {**sets["samples"], **sets["distinct"]}
stages = {key: len(space.to_arch(sample).stages) for key, (sample, _) in union.items()}
groups = {**{name: sorted(refs) for name, refs in sets.items()}, "union": sorted(union),
          "union, two-stage": sorted(k for k in union if stages[k] == 2),
          "union, three-stage": sorted(k for k in union if stages[k] == 3)}
splits = load_dataset(space.proxy.data, space.proxy.data_root, resolution=max(space.choices["resolution"]),
                      seed=space.proxy.seed)
args = sys.argv[1:]
val = int(args[args.index("--val") + 1]) if "--val" in args else 500
metric = args[args.index("--metric") + 1] if "--metric" in args else "acc"
args = [a for i, a in enumerate(args) if a not in ("--val", "--metric") and (i == 0 or args[i - 1] not in ("--val", "--metric"))]
sign = -1.0 if metric == "loss" else 1.0  # a lower loss ranks higher
subsets = {seed: score_data(splits, seed=seed, val_size=val) for seed in (0, 1)}
result = {"references": {k: {"mean": union[k][1], "stages": stages[k]} for k in union}, "supernets": {}}
for arg in args:
    name, folder = arg.split("=", 1)
    supernet = load_supernet(ROOT / folder).eval()
    acc = {seed: {k: sign * score_subnet(supernet, union[k][0], data)[metric] for k in union}
           for seed, data in subsets.items()}
    rows = {}
    for group, keys in groups.items():
        truth = [union[k][1] for k in keys]
        for seed in subsets:
            mine = [acc[seed][k] for k in keys]
            row = {"n": len(keys), "tau": rank_stats.kendall_tau(mine, truth), "rho": rank_stats.spearman_rho(mine, truth),
                   "top_third": rank_stats.tau_within_top(mine, truth) if len(keys) >= 9 else None}
            rows[f"{group} / val seed {seed}"] = row
            top = "" if row["top_third"] is None else f", top third {row['top_third']:.2f}"
            print(f"{name}: {group} ({len(keys)}), val subset {seed}: tau {row['tau']:.2f}, rho {row['rho']:.2f}{top}",
                  flush=True)
    scores = {str(s): a for s, a in acc.items()}
    result["supernets"][name] = {"folder": folder, "acc" if metric == "acc" else f"-{metric}": scores, "rank": rows}
Path(__file__).with_name(("score" if metric == "acc" else f"score_{metric}")
                         + ("" if val == 500 else f"_val{val}") + ".json").write_text(json.dumps(result, indent=1))
