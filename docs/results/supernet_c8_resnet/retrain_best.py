"""Each search's best.json retrained stand-alone with the recipe of the supernet's --top-k
(eqnas.supernet.standalone: the proxy's loop, 3 epochs on 20,000 images, proxy seed, best epoch on
the proxy's validation subset), so the multi-trial winners compare with the supernet's like for
like. One JSON line per run folder in --out; a rerun trains nothing twice.

    python docs/results/supernet_c8_resnet/retrain_best.py --out F.jsonl RUN_FOLDER...
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from eqnas.arch import Arch
from eqnas.profiling import format_flops
from eqnas.search.proxy import proxy_trainer
from eqnas.search.records import arch_identity
from eqnas.search.space import fit_to_data, load_space
from eqnas.search.trial import TrainJob

parser = argparse.ArgumentParser()
parser.add_argument("--space", type=Path, default=Path("spaces/c8_resnet.yaml"))
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--images", type=int, default=20000)
parser.add_argument("--out", type=Path, required=True)
parser.add_argument("runs", type=Path, nargs="+")
args = parser.parse_args()
space = fit_to_data(load_space(args.space))
train = proxy_trainer(space.proxy, "cpu")
done = {json.loads(line)["run"] for line in args.out.read_text().splitlines()} if args.out.exists() else set()
for run in args.runs:
    if str(run) in done:
        continue
    best = json.loads((run / "best.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    print(f"{run}: training {best.get('name', '')} stand-alone ({args.epochs}x{args.images}) ...", flush=True)
    start = time.perf_counter()
    value = train(Arch.from_dict(best), None, TrainJob(args.epochs, args.images, space.proxy.seed))
    row = {"run": str(run), "identity": arch_identity(best), "fidelity": f"{args.epochs}x{args.images}",
           "standalone": value, "seconds": time.perf_counter() - start, "summary": summary}
    with args.out.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(f"{run}: {value:.4f} stand-alone", flush=True)
