"""Control for stage_supernet.py: the first 100 sandwich steps of the mixed c8_resnet supernet
(the space as the search loads it) and of the three-stage one (stage_supernet.py's space), the
same config, seed and batches; the largest subnet's loss every 10 steps.

    WHICH=mixed python docs/results/supernet_c8_resnet/per_stage_count/control.py > control_mixed.log
    WHICH=three python docs/results/supernet_c8_resnet/per_stage_count/control.py > control_three.log
"""
import os
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
sys.path.insert(0, str(HERE))
import stage_supernet  # noqa: E402
from eqnas.data.registry import load_dataset  # noqa: E402
from eqnas.search.proxy import proxy_config  # noqa: E402
from eqnas.search.space import fit_to_data, load_space  # noqa: E402
from eqnas.supernet.supernet import Supernet  # noqa: E402
from eqnas.supernet.train import Sandwich, train_supernet  # noqa: E402


class Stop(Exception):
    pass


def log(line: str) -> None:
    print(WHICH, line, flush=True)
    if " step 100/" in line:
        raise Stop


WHICH = os.environ["WHICH"]
torch.set_num_threads(1)
space = fit_to_data(load_space(ROOT / "spaces/c8_resnet.yaml")) if WHICH == "mixed" else stage_supernet.stage_space(3)
splits = load_dataset(space.proxy.data, space.proxy.data_root, resolution=29, seed=space.proxy.seed)
config = proxy_config(space.proxy, "cpu").replace(epochs=2, subset=20000)
try:
    train_supernet(Supernet(space, {}, "separate"), splits, config, None,
                   Sandwich(random_subnets=2, flops_cap=100_000_000, log_every=10), log=log)
except Stop:
    pass
