"""A c8_resnet supernet of one stage count (issue 11: "a supernet per stage count"), trained
within 100M FLOPs as the search trains its supernet (separate kernels, the proxy's config, the
sandwich with two random subnets), then the references of that stage count (both reference sets
of ../distinct/) scored with its weights: 500 validation images on two subsets and 2,000.

    python docs/results/supernet_c8_resnet/per_stage_count/stage_supernet.py STAGES EPOCHS OUT

STAGES 3: the space with num_stages fixed to 3; STAGES 2: its first two stages only (so no
label is unused). Writes OUT/scores.json (inherited accuracy per reference key and subset) and
OUT/supernet/supernet.pt; a supernet already trained in OUT is read back. References:
docs/results/supernet_c8_resnet/{references_c8_resnet_100M,references_seed1_later}.jsonl and
distinct/references_distinct.jsonl.
"""
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "benchmarks"))
from supernet_rank import references  # noqa: E402
from eqnas.data.registry import load_dataset  # noqa: E402
from eqnas.search import rank_stats  # noqa: E402
from eqnas.search.proxy import proxy_config  # noqa: E402
from eqnas.search.space import fit_to_data, load_space, parse_space  # noqa: E402
from eqnas.supernet.score import score_data, score_subnet  # noqa: E402
from eqnas.supernet.supernet import Supernet  # noqa: E402
from eqnas.supernet.train import Sandwich, train_supernet  # noqa: E402
from eqnas.yamlfile import read_yaml  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent


def reference_means() -> dict[str, tuple[dict, float]]:
    """key -> (sample, two-seed mean) over both reference sets."""
    with tempfile.TemporaryDirectory() as folder:
        first = Path(folder, "first_set.jsonl")
        first.write_text((RESULTS / "references_c8_resnet_100M.jsonl").read_text()
                         + (RESULTS / "references_seed1_later.jsonl").read_text())
        return {**references(first, "3x20000"), **references(RESULTS / "distinct/references_distinct.jsonl", "3x20000")}


def stage_space(stages: int):
    data = read_yaml(ROOT / "spaces/c8_resnet.yaml", "space file")
    data["stages"] = data["stages"][:stages]
    if stages == 3:
        data["num_stages"] = [3]
    else:
        data.pop("num_stages")
    data["name"] = f"c8_resnet_{stages}stages"
    return fit_to_data(parse_space(data))


def main() -> None:
    stages, epochs, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    torch.set_num_threads(1)
    full = fit_to_data(load_space(ROOT / "spaces/c8_resnet.yaml"))
    refs = {k: (full.to_arch(s), mean) for k, (s, mean) in reference_means().items()
            if len(full.to_arch(s).stages) == stages}
    space = stage_space(stages)
    splits = load_dataset(space.proxy.data, space.proxy.data_root, resolution=max(space.choices["resolution"]),
                          seed=space.proxy.seed)
    config = proxy_config(space.proxy, "cpu").replace(epochs=epochs, subset=20000)
    supernet = Supernet(space, {}, "separate")
    cpu = time.process_time()
    train_supernet(supernet, splits, config, out / "supernet", Sandwich(random_subnets=2, flops_cap=100_000_000),
                   log=lambda line: print(line, flush=True) if "step 310" in line or "within" in line else None)
    print(f"train {time.process_time() - cpu:.0f} CPU s", flush=True)
    supernet.eval()
    keys = sorted(refs, key=lambda k: refs[k][1])
    truth = [refs[k][1] for k in keys]
    scores = {}
    for val, seed in ((500, 0), (500, 1), (2000, 0)):
        data = score_data(splits, seed=seed, val_size=val)
        acc = [score_subnet(supernet, refs[k][0], data)["acc"] for k in keys]
        scores[f"{val}/{seed}"] = dict(zip(keys, acc))
        print(f"{stages} stages ({len(keys)}), val {val} subset {seed}: tau {rank_stats.kendall_tau(acc, truth):.2f} "
              f"rho {rank_stats.spearman_rho(acc, truth):.2f}", flush=True)
    (out / "scores.json").write_text(json.dumps({"stages": stages, "epochs": epochs, "truth": dict(zip(keys, truth)),
                                                 "acc": scores}, indent=1))


if __name__ == "__main__":
    main()
