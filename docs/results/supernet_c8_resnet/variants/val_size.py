"""The trained supernets of run.sh (runs/c8-sn-cpu/<mode>) scored on the 12 references with
several validation-subset sizes and calibration batches (two subset seeds each), to see how much
of the rank error is the score's sampling noise.

    python docs/results/supernet_c8_resnet/variants/val_size.py separate,map 500,2000,5000 2,8
"""
import sys, time, json
from pathlib import Path
import torch
ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "benchmarks"))
from supernet_rank import references
from eqnas.data.registry import load_dataset
from eqnas.search import rank_stats
from eqnas.search.space import fit_to_data, load_space
from eqnas.search.supernet_options import SupernetOptions
from eqnas.supernet.score import score_data, score_subnet
from eqnas.supernet.search import train_supernets
from eqnas.supernet.flop_counts import read_flop_counts

torch.set_num_threads(1)
space = fit_to_data(load_space(ROOT / "spaces/c8_resnet.yaml"))
refs = references(ROOT / "runs/rank_fidelity/c8_resnet_100M.jsonl", "3x20000")
splits = load_dataset(space.proxy.data, space.proxy.data_root, resolution=max(space.choices["resolution"]), seed=0)
print("val split size", len(splits.val))
keys = sorted(refs, key=lambda k: refs[k][1]); truth = [refs[k][1] for k in keys]
out = ROOT / "runs/c8-sn-cpu"
results = {}
for mode in sys.argv[1].split(","):
    options = SupernetOptions(epochs=2, images=20000, kernels=mode)
    (sn,) = train_supernets(space, splits, options, out / mode, "cpu", print, 100_000_000, read_flop_counts(out / mode, ())).values()
    for val in [int(v) for v in sys.argv[2].split(",")]:
        for cal in [int(c) for c in sys.argv[3].split(",")]:
            for seed in [0, 1]:
                data = score_data(splits, seed=seed, val_size=val, calibration_batches=cal)
                mine, secs = [], []
                for k in keys:
                    c = time.process_time(); s = score_subnet(sn, refs[k][0], data); secs.append(time.process_time() - c); mine.append(s["acc"])
                tau = rank_stats.kendall_tau(mine, truth); rho = rank_stats.spearman_rho(mine, truth); top = rank_stats.tau_within_top(mine, truth)
                print(f"{mode} val {val} cal {cal} seed {seed}: tau {tau:.2f} rho {rho:.2f} top {top:.2f} max {max(secs):.1f}s", flush=True)
                results[f"{mode}/{val}/{cal}/{seed}"] = {"tau": tau, "rho": rho, "top": top, "max_s": max(secs), "acc": mine}
json.dump({"keys": keys, "truth": truth, "results": results}, open(Path(__file__).with_name(f"val_size_{sys.argv[1]}.json"), "w"), indent=1)
