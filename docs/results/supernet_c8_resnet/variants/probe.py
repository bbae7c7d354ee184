"""Other scores from the same trained supernets (no new training): does a subnet rank better once its
classifier is re-fitted on its inherited features, or after a few fine-tuning steps, than by its
inherited accuracy? Each is scored on both reference sets (`../distinct/score.py`'s groups: the
bar's 12, the 12 distinct, their union of 23, two- and three-stage) on two 500-image validation
subsets, against the two-seed reference means.

- `inherited`: what the search scores (batch norm recalibrated on 2 batches of 64, then evaluated).
- `refit`: the same network with its last linear layer fitted anew (L-BFGS, cross-entropy, a small
  L2 penalty) on the pooled invariant features of `--fit-images` training images; only the
  classifier changes, so the shared body is still what is ranked.
- `finetune`: `--steps` AdamW steps (lr 1e-3, the supernet's optimizer and rate, batch 128) of the
  whole subnet on training batches, then recalibrated and evaluated.
Each score's CPU seconds are printed beside it (the issue allows 5 s a subnet).

    python docs/results/supernet_c8_resnet/variants/probe.py [--fit-images 1024] [--steps 4]
        [--methods inherited,refit,finetune] [--group union] NAME=RUN_FOLDER... > probe.log

`--group samples` scores only the bar's 12. Writes probe.json here (probe_steps<N>.json for another
--steps): every score per supernet, method and subset, and the rank statistics.
"""
import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
sys.path.insert(0, str(HERE.parent / "distinct"))
from score import rank_rows, reference_groups  # noqa: E402
from eqnas.data.registry import load_dataset  # noqa: E402
from eqnas.search.space import fit_to_data, load_space  # noqa: E402
from eqnas.supernet.norms import recalibrate  # noqa: E402
from eqnas.supernet.record import load_supernet  # noqa: E402
from eqnas.supernet.resize import Resize  # noqa: E402
from eqnas.supernet.score import score_data  # noqa: E402
from eqnas.train.loaders import take_subset  # noqa: E402

METHODS = ("inherited", "refit", "finetune")


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    return (logits.argmax(-1) == targets).float().mean().item()


def features(model: nn.Sequential, images: torch.Tensor) -> torch.Tensor:
    """Pooled invariant features (the classifier's input) in eval mode, 256 images at a time."""
    resize, net = model[0], model[1]
    with torch.no_grad():
        return torch.cat([net.pool(net.forward_features(resize(chunk))) for chunk in images.split(256)])


def refit(classifier: nn.Linear, train_x: torch.Tensor, train_y: torch.Tensor, l2: float = 1e-3) -> nn.Linear:
    """A copy of the last linear layer fitted on (features, labels) from its inherited weights."""
    head = copy.deepcopy(classifier)
    optimizer = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(head(train_x), train_y) + l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return head


def scores(supernet, sample, calibration, fit, val_sets, steps: int, batches, methods) -> dict:
    """{method: ([accuracy per validation subset], CPU s)} for one subnet."""
    out = {}
    start = time.process_time()
    model = recalibrate(nn.Sequential(Resize(supernet.arch(sample).resolution), supernet.extract(sample)),
                        iter(calibration))
    net = model[1]
    with torch.no_grad():
        out["inherited"] = ([accuracy(model(x), y) for x, y in val_sets], time.process_time() - start)
    if "refit" in methods:
        start = time.process_time()
        head = refit(net.classifier, features(model, fit[0]), fit[1])
        out["refit"] = ([accuracy(head(features(model, x)), y) for x, y in val_sets],
                        out["inherited"][1] + time.process_time() - start)
    if "finetune" not in methods:
        return out
    start = time.process_time()
    tuned = copy.deepcopy(model).train()
    optimizer = torch.optim.AdamW(tuned.parameters(), lr=1e-3)
    for images, targets in batches[:steps]:
        optimizer.zero_grad()
        nn.functional.cross_entropy(tuned(images), targets).backward()
        optimizer.step()
    recalibrate(tuned, iter(calibration))
    with torch.no_grad():
        out["finetune"] = ([accuracy(tuned(x), y) for x, y in val_sets],
                           out["inherited"][1] + time.process_time() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fit-images", type=int, default=1024, help="training images the classifier is re-fitted on")
    parser.add_argument("--steps", type=int, default=4, help="fine-tuning steps of 128 images")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated, among " + ", ".join(METHODS))
    parser.add_argument("--group", default="union", help="the reference group scored (ranks are given for its subgroups)")
    parser.add_argument("supernets", nargs="+", metavar="NAME=RUN_FOLDER")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    space = fit_to_data(load_space(ROOT / "spaces/c8_resnet.yaml"))
    methods = [m for m in METHODS if m in args.methods.split(",")]  # inherited is always scored first
    methods = methods if "inherited" in methods else ["inherited", *methods]
    union, groups = reference_groups(space)
    chosen = set(groups[args.group])
    groups = {name: keys for name, keys in groups.items() if set(keys) <= chosen}
    splits = load_dataset(space.proxy.data, space.proxy.data_root, resolution=max(space.choices["resolution"]),
                          seed=space.proxy.seed)
    subsets = [score_data(splits, seed=seed) for seed in (0, 1)]  # the search's own subset is seed 0
    calibration = subsets[0].calibration
    val_sets = [tuple(data.val.tensors) for data in subsets]
    fit = next(iter(DataLoader(take_subset(splits.train, args.fit_images, 7), batch_size=args.fit_images))) \
        if "refit" in methods else None
    loader = DataLoader(splits.train, batch_size=128, shuffle=True, generator=torch.Generator().manual_seed(11))
    batches = [batch for batch, _ in zip(loader, range(args.steps))]
    result = {"fit_images": args.fit_images, "steps": args.steps, "methods": methods, "group": args.group,
              "references": {k: union[k][1] for k in sorted(chosen)}, "supernets": {}}
    for arg in args.supernets:
        name, folder = arg.split("=", 1)
        supernet = load_supernet(ROOT / folder).eval()
        per_key = {}
        for key in sorted(chosen):
            per_key[key] = scores(supernet, union[key][0], calibration, fit, val_sets, args.steps, batches, methods)
            print(f"{name}: {key}: " + ", ".join(f"{m} {' '.join(f'{a:.3f}' for a in per_key[key][m][0])} "
                                                 f"({per_key[key][m][1]:.1f} s)" for m in methods), flush=True)
        rows = {}
        for method in methods:
            by_subset = {subset: {k: per_key[k][method][0][subset] for k in per_key} for subset in (0, 1)}
            rows.update({f"{method} / {group} / val subset {subset}": row for (group, subset), row
                         in rank_rows(f"{name}: {method}", by_subset, union, groups, rho=False).items()})
            worst = max(per_key[k][method][1] for k in per_key)
            print(f"{name}: {method}: at most {worst:.1f} CPU s a subnet", flush=True)
        result["supernets"][name] = {"folder": folder, "rank": rows,
                                     "scores": {k: {m: v[m][0] for m in methods} for k, v in per_key.items()},
                                     "cpu_s": {k: {m: v[m][1] for m in methods} for k, v in per_key.items()}}
        HERE.joinpath("probe" + ("" if args.steps == 4 else f"_steps{args.steps}") + ".json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
