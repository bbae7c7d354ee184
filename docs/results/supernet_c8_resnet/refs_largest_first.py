"""A second worker for step 1 of run.sh: the references of rank_fidelity.py's c8_resnet
benchmark for one seed (argument; default 0), largest first, into the same records (the first
worker goes smallest first; this one stops at the first architecture already recorded). Run
from the repository root."""
import sys
from pathlib import Path

sys.path.insert(0, "benchmarks")
import torch  # noqa: E402

import rank_fidelity as rf  # noqa: E402
from eqnas.profiling import parse_budget  # noqa: E402
from eqnas.search.fidelity import parse_rungs  # noqa: E402
from eqnas.search.space import load_space  # noqa: E402

torch.set_num_threads(1)
space = load_space("spaces/c8_resnet.yaml")
candidates = rf.candidates(space, parse_budget("100M"), 12, 0)
trainer = rf.Trainer(space, rf.RunLog(Path("runs/rank_fidelity/c8_resnet_100M.jsonl")))
reference = parse_rungs("3x20000")[0]
seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
for candidate in reversed(candidates):
    if (candidate.key, reference.label, seed, True) in trainer.log.table():
        break
    trainer.run(candidate, reference, seed, True)
