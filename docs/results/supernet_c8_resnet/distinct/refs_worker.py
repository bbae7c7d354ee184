"""One worker of the distinct-network references (run.sh step 6): rank_fidelity.py's c8_resnet
benchmark under 100M with --distinct, the reference recipe for the seeds given (argument, e.g.
"0" or "1"), smallest first, into the shared records; a reference already recorded is skipped, so
two workers with different seeds run side by side. Run from the repository root."""
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
candidates = rf.candidates(space, parse_budget("100M"), 12, 0, distinct=True)
trainer = rf.Trainer(space, rf.RunLog(Path("runs/rank_fidelity/c8_resnet_100M_distinct.jsonl")))
reference = parse_rungs("3x20000")[0]
for seed in (int(s) for s in sys.argv[1].split(",")):
    for candidate in candidates:
        trainer.run(candidate, reference, seed, True)
