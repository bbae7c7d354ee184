"""How often each choice's weights are trained: the expected number of a sandwich step's subnets
that use each elastic label's value, under eqnas's draws within 100M and the variants' draws
(no training; 3,000 simulated steps each). A stand-alone network trains all of its own weights at
every step, so a choice the supernet's steps rarely use is a choice whose weights it trains less.

    python docs/results/supernet_c8_resnet/variants/exposure.py > exposure.log

`uses`, `balanced_weights` and `floored_weights` are also variant.py's `--balanced-draws` and
`--floored-draws` (the most even draws the cap allows). Needs
runs/c8-sn-cpu/map/flops.json (run.sh step 2).
"""
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))
from eqnas.search.space import fit_to_data, load_space  # noqa: E402

BALANCED = ("stages.0.kernel", "stages.1.kernel", "stages.1.width")  # the choices the largest within 100M lacks
SHOWN = (("stages.0.kernel", 5), ("stages.1.kernel", 5), ("stages.1.width", 16), ("stages.0.kernel", 3),
         ("stages.1.kernel", 3), ("stages.0.depth", 2), ("stages.1.depth", 2), ("stages.0.width", 8), ("stem.width", 8),
         ("stages.2.depth", 2), ("num_stages", 3))


def uses(network: dict, label: str) -> bool:
    """Whether a network uses a label: a later stage's labels mean nothing in a network without it."""
    return not label.startswith("stages.") or int(label.split(".")[1]) < network.get("num_stages", 3)


def balanced_weights(networks: list[dict], labels: dict[str, list], rounds: int = 500) -> list[float]:
    """Weights on `networks` (iterative proportional fitting) under which each label's values are
    equally likely among the networks that use it, as nearly as the networks allow; the labels
    are fitted in turn, so when they cannot all be balanced the last ones come closest."""
    weights = [1.0] * len(networks)
    for _ in range(rounds):
        for label, values in labels.items():
            users = [i for i, network in enumerate(networks) if uses(network, label)]
            total = sum(weights[i] for i in users)
            share = {v: sum(weights[i] for i in users if networks[i][label] == v) / total for v in values}
            for i in users:
                weights[i] *= (1 / len(values)) / share[networks[i][label]] if share[networks[i][label]] else 1.0
    return weights


def blocks(network: dict, searched: dict[str, list]) -> set[tuple[str, object]]:
    """The weights a network trains beyond those every network has, one (label, value) each: its
    kernel size per stage (separate coefficients), its stage count (a classifier per count, the
    third stage), and each width or depth above the smallest (the fields or block beyond it)."""
    out = set()
    for label, values in searched.items():
        if not uses(network, label):
            continue
        if label.endswith(".kernel") or label == "num_stages":
            out.add((label, network[label]))
        else:
            out.update((label, value) for value in values[1:] if network[label] >= value)
    return out


def floored_weights(networks: list[dict], searched: dict[str, list], share: float = 0.9) -> tuple[list[float], float]:
    """(weights on `networks`, the best floor): the largest share of random draws that every block
    (`blocks`) can be in at once (a linear program), and the most spread-out weights (maximum
    entropy) that put every block in at least `share` of that. The teacher and the smallest are
    left out: they train a block in one network only."""
    import numpy as np
    from scipy.optimize import linprog, minimize
    from scipy.special import logsumexp
    own = [blocks(network, searched) for network in networks]
    every = sorted(set().union(*own), key=str)
    used = np.array([[b in mine for b in every] for mine in own], float)
    count = len(networks)
    best = linprog(np.r_[np.zeros(count), -1.0], A_ub=np.hstack([-used.T, np.ones((len(every), 1))]),
                   b_ub=np.zeros(len(every)), A_eq=np.r_[np.ones(count), 0.0][None], b_eq=[1.0],
                   bounds=[(0, None)] * count + [(None, None)])
    floor = best.x[-1]

    def dual(multipliers):  # the weights are exp(used @ multipliers), normalised
        logits = used @ multipliers
        norm = logsumexp(logits)
        return norm - multipliers @ np.full(len(every), share * floor), used.T @ np.exp(logits - norm) - share * floor

    found = minimize(dual, np.zeros(len(every)), jac=True, bounds=[(0, None)] * len(every), method="L-BFGS-B")
    logits = used @ found.x
    return list(np.exp(logits - logsumexp(logits))), floor


def within_values(space, networks: list[dict]) -> dict[str, list]:
    """Each searched label's values that some network using it has."""
    return {label: [v for v in values if any(n[label] == v for n in networks if uses(n, label))]
            for label, values in space.searched().items()}


def main() -> None:
    from eqnas.supernet.draws import WithinCap
    from eqnas.supernet.flop_counts import read_flop_counts
    from eqnas.supernet.subnets import sample_of
    from eqnas.supernet.supernet import Supernet
    space = fit_to_data(load_space(ROOT / "spaces/c8_resnet.yaml"))
    draws = WithinCap(Supernet(space, {}, "separate"), 100_000_000, read_flop_counts(ROOT / "runs/c8-sn-cpu/map", ()))
    within = [{**draws.outer, **s} for s in space.enumerate() if space.key({**draws.outer, **s}) in draws.flops]
    network_of = lambda arch: sample_of(space, arch)  # noqa: E731  (a dropped stage's labels at their first value)
    canonical = [network_of(space.to_arch(s)) for s in within]
    networks = list({space.key(c): c for c in canonical}.values())
    searched = list(space.searched())
    holds = lambda big, small: all(big[label] >= small[label] for label in searched)  # noqa: E731
    frontier = [n for n in networks if not any(o is not n and holds(o, n) for o in networks)]
    held = [[c for c in canonical if holds(f, c)] for f in frontier]
    covering = {label: max(s[label] for s in within) for label in searched}
    largest, smallest = network_of(draws.largest()), network_of(draws.smallest())
    values = within_values(space, networks)
    weights = balanced_weights(networks, {label: values[label] for label in BALANCED})
    floored, floor = floored_weights(networks, values)

    def frontier_teacher(rng):
        index = rng.randrange(len(frontier))
        return [frontier[index], smallest, rng.choice(held[index]), rng.choice(held[index])]

    samplers = {
        "eqnas (the baseline)": lambda rng: [largest, smallest, network_of(draws.random(rng)), network_of(draws.random(rng))],
        "--distinct-draws": lambda rng: [largest, smallest, rng.choice(networks), rng.choice(networks)],
        "frontier.patch": lambda rng: [largest, smallest, rng.choice(frontier), network_of(draws.random(rng))],
        "--covering-teacher": lambda rng: [covering, smallest, network_of(draws.random(rng)), network_of(draws.random(rng))],
        "--frontier-teacher": frontier_teacher,
        "--balanced-draws": lambda rng: [largest, smallest, *rng.choices(networks, weights=weights, k=2)],
        "--balanced-draws --half": lambda rng: [largest, smallest, rng.choices(networks, weights=weights)[0],
                                                network_of(draws.random(rng))],
        "--floored-draws": lambda rng: [largest, smallest, *rng.choices(networks, weights=floored, k=2)],
    }
    print(f"{len(networks)} networks within 100M, {len(frontier)} on its frontier; at best {floor:.2f} of the random "
          f"draws can hold every choice's own weights (`blocks`) at once")
    print("expected subnets using each choice per sandwich step (4 subnets), 3,000 simulated steps:")
    headers = [f"{label.replace('stages.', 's')}={value}" for label, value in SHOWN]
    print(f"{'draws':24s} " + " ".join(headers))
    for name, step in samplers.items():
        rng, counts, steps = random.Random(1), Counter(), 3000
        for _ in range(steps):
            for network in step(rng):
                counts.update((label, value) for label, value in network.items() if uses(network, label))
        print(f"{name:24s} " + " ".join(f"{counts[choice] / steps:{len(header)}.2f}" for choice, header in zip(SHOWN, headers)))


if __name__ == "__main__":
    main()
