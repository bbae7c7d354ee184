"""Equivariant against plain at equal FLOPs: the evidence table of the README.

For each dataset and FLOP budget, search the equivariant space and its plain counterpart with
the same strategy, trials and proxy; retrain both winners with the same recipe, without and with
DP-SGD (epsilon = 8), once per invariant head in --heads (`arch.head`: the searched winner with
only its head swapped); write a markdown table and a plot. Searches and retrainings are folders
under --out, so an interrupted run resumes (finished searches and retrainings are reused).

    python benchmarks/equal_flops.py --data fashion-mnist-rot,fashion-mnist --budgets 100M,200M \\
        --trials 4 --epochs 2 --train-subset 10000 --heads max,max_mean --out runs/equal_flops
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

from eqnas.arch import Arch
from eqnas.data.registry import load_dataset
from eqnas.profiling import arch_flops, arch_params, format_flops, parse_budget
from eqnas.search.proxy import proxy_trainer
from eqnas.search.runner import SearchConfig, run_search
from eqnas.search.space import load_space, replace_proxy
from eqnas.train.config import TrainConfig
from eqnas.train.loop import train

ROOT = Path(__file__).resolve().parents[1]


def searched_winner(space_path: Path, data: str, budget: int, args, out: Path) -> Arch:
    space = replace_proxy(load_space(space_path), data=data, epochs=args.proxy_epochs, subset=args.proxy_subset,
                          seed=args.seed)
    if not (out / "best.json").exists():
        config = SearchConfig(flops_max=budget, strategy=args.strategy, trials=args.trials, seed=args.seed,
                              resume=(out / "trials.jsonl").exists())
        run_search(space, config, proxy_trainer(space.proxy, args.device), out, echo=print)
    if not (out / "best.json").exists():
        raise SystemExit(f"the search in {out} trained nothing within the budget")
    return Arch.load(out / "best.json")


def retrained(arch: Arch, data: str, dp: bool, args, out: Path) -> dict:
    metrics_path = out / "metrics.json"
    if metrics_path.exists():
        return json.loads(metrics_path.read_text())
    splits = load_dataset(data, resolution=arch.resolution, seed=args.seed)
    common = dict(epochs=args.epochs, seed=args.seed, device=args.device, schedule="onecycle", subset=args.train_subset)
    if dp:
        config = TrainConfig(**common, dp=True, epsilon=8.0, batch_size=args.dp_batch, optimizer="sgd", lr=args.dp_lr,
                             momentum=0.9, max_grad_norm=1.0, physical_batch_size=256)
    else:
        config = TrainConfig(**common, batch_size=128, optimizer="adamw", lr=3e-3)
    return train(arch, splits, config, out, progress=False).metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="fashion-mnist-rot,fashion-mnist")
    parser.add_argument("--budgets", default="100M,200M")
    parser.add_argument("--equivariant", default=str(ROOT / "spaces/c8_resnet.yaml"))
    parser.add_argument("--plain", default=str(ROOT / "spaces/cnn_resnet.yaml"))
    parser.add_argument("--strategy", default="evolution")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--proxy-epochs", type=int, default=1)
    parser.add_argument("--proxy-subset", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3, help="retraining epochs (both families, both modes)")
    parser.add_argument("--train-subset", type=int, default=None, help="retraining images (default: all)")
    parser.add_argument("--dp-batch", type=int, default=512)
    parser.add_argument("--dp-lr", type=float, default=0.5)
    parser.add_argument("--no-dp", action="store_true")
    parser.add_argument("--heads", default="max", help="invariant heads to retrain each winner with (arch.head)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="runs/equal_flops")
    args = parser.parse_args()
    out = Path(args.out)
    started = time.perf_counter()
    rows = []
    for data in args.data.split(","):
        for budget_text in args.budgets.split(","):
            budget = parse_budget(budget_text)
            for family, space_path in (("equivariant", Path(args.equivariant)), ("plain", Path(args.plain))):
                folder = out / data / budget_text / family
                winner = searched_winner(space_path, data, budget, args, folder / "search")
                for head in args.heads.split(","):
                    arch = winner.replace(head=head)
                    row = {"data": data, "budget": budget_text, "family": family, "group": str(arch.final_group),
                           "head": head, "flops": arch_flops(arch), "params": arch_params(arch)}
                    suffix = "" if head == "max" else f"_{head}"  # "max" keeps the folders of earlier runs
                    for dp in ((False,) if args.no_dp else (False, True)):
                        metrics = retrained(arch, data, dp, args, folder / (f"retrain_dp{suffix}" if dp else f"retrain{suffix}"))
                        key = "dp" if dp else "plain"
                        row[f"acc_{key}"] = metrics["test_acc"]
                        if dp and metrics.get("privacy"):
                            row["epsilon"] = metrics["privacy"]["epsilon"]
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    table = markdown(rows, args, time.perf_counter() - started)
    (out / "table.md").write_text(table)
    (out / "rows.json").write_text(json.dumps(rows, indent=2))
    plot(rows, out / "equal_flops.png")
    print(table)


def markdown(rows: list[dict], args, seconds: float) -> str:
    device = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else \
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    lines = [
        "| data | budget | family | group | head | FLOPs | params | test acc | test acc, DP (ε=8) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        dp = "-" if r.get("acc_dp") is None else f"{r['acc_dp']:.3f} (ε={r.get('epsilon', float('nan')):.2f})"
        lines.append(f"| {r['data']} | {r['budget']} | {r['family']} | {r['group']} | {r['head']} "
                     f"| {format_flops(r['flops'])} | {r['params']:,} | {r['acc_plain']:.3f} | {dp} |")
    lines += ["", f"FLOPs: fvcore, one multiply-add = one FLOP, per sample. Command: "
              f"`python benchmarks/equal_flops.py {shlex.join(sys.argv[1:])}`; machine: {device}; "
              f"wall time {seconds / 60:.1f} min."]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["data"] for r in rows})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 4), squeeze=False)
    for ax, data in zip(axes[0], datasets):
        heads = sorted({r["head"] for r in rows})
        for family, color in (("equivariant", "tab:blue"), ("plain", "tab:gray")):
            for head, marker in zip(heads, "o^"):
                mine = sorted((r for r in rows if r["data"] == data and r["family"] == family and r["head"] == head),
                              key=lambda r: r["flops"])
                flops = [r["flops"] / 1e6 for r in mine]
                name = f"{family}, head {head}" if len(heads) > 1 else family
                ax.plot(flops, [r["acc_plain"] for r in mine], f"{marker}-", color=color, label=name)
                if any(r.get("acc_dp") is not None for r in mine):
                    ax.plot(flops, [r.get("acc_dp") for r in mine], f"{marker}--", color=color, mfc="none",
                            label=f"{name}, DP ε=8")
        ax.set_xlim(0, 1.1 * max(r["flops"] for r in rows if r["data"] == data) / 1e6)
        ax.set_title(data)
        ax.set_xlabel("MFLOPs per sample (fvcore)")
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 * ((len(labels) + 3) // 4), 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
