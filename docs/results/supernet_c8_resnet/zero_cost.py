"""The zero-cost scorers of the rank-fidelity benchmark (FLOPs, trainable parameters) on the
c8_resnet references of ../supernet_c8_resnet (both sets, two-seed means, 3x20000): the ranking a
supernet's inherited weights have to beat to be worth their training.

    python docs/results/supernet_c8_resnet/zero_cost.py > docs/results/supernet_c8_resnet/zero_cost.log

Reads runs/rank_fidelity/c8_resnet_100M{,_distinct}.jsonl (run.sh steps 1 and 6, or the
references committed here: see run.sh step 8).
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE / "distinct"))
from score import reference_groups  # noqa: E402
from eqnas.profiling import arch_flops, arch_params  # noqa: E402
from eqnas.search import rank_stats  # noqa: E402
from eqnas.search.space import fit_to_data, load_space  # noqa: E402

space = fit_to_data(load_space(ROOT / "spaces/c8_resnet.yaml"))
union, groups = reference_groups(space)
archs = {key: space.to_arch(sample) for key, (sample, _) in union.items()}
scorers = {"FLOPs": {k: arch_flops(a) for k, a in archs.items()}, "parameters": {k: arch_params(a) for k, a in archs.items()}}
for name, score in scorers.items():
    for group, keys in groups.items():
        mine, truth = [score[k] for k in keys], [union[k][1] for k in keys]
        print(f"{name}: {group} ({len(keys)}): tau {rank_stats.kendall_tau(mine, truth):.2f}, "
              f"rho {rank_stats.spearman_rho(mine, truth):.2f}, top third {rank_stats.tau_within_top(mine, truth):.2f}")
