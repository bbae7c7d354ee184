"""A c8_resnet supernet variant trained within 100M FLOPs (separate kernels, the search's own
config and FLOP counts) and its inherited accuracy on the 12 rank-fidelity references, scored on
500 validation images (two subsets) and on 2,000, against the two-seed reference means.

    python docs/results/supernet_c8_resnet/variants/variant.py OUT EPOCHS RANDOM_SUBNETS FRONTIER(0|1) [--labels]

--labels: every subnet learns from the labels instead of the largest one's outputs.
--distinct-draws: a random subnet is drawn uniformly from the distinct networks within the cap
(eqnas draws from its samples, and a two-stage network is six samples of c8_resnet).
--zero-init: the last batch norm of every residual block's body starts at scale 0, so a block
starts as the identity (BigNAS, Yu et al. 2020, section 3.1), and a stage's second block is
then a small change whether or not a subnet has it.
--covering-teacher: the sandwich's largest subnet (the teacher) is the one whose every elastic label
is the largest any subnet within the cap has (c8_resnet within 100M: 805M FLOPs, three stages,
5x5 kernels, 16 fields in the second stage), so it trains every weight a subnet within the cap
uses; before training, 4 sandwich steps are timed against as many steps of the largest
subnet within the cap alone (the bar's reference network), as benchmarks/supernet_rank.py does.
--frontier-teacher: each step's teacher is drawn from the cap's frontier (the subnets within it
that no other one within it holds, every label at least as large; 48 distinct networks of
c8_resnet within 100M), and the random subnets are drawn from the samples within the cap that
this teacher holds; the smallest is held by every teacher. Every subnet within the cap then
learns from a teacher that has each of its choices, at the cost of a teacher within the cap
(timed as for --covering-teacher).
--balanced-draws: each random subnet is drawn from the distinct networks within the cap with
weights (exposure.balanced_weights) that make both kernel sizes of stages 0 and 1 and both widths
of stage 1 within the cap equally likely: the choices the largest subnet within 100M lacks. Under
eqnas's draws their weights are trained by 0.33-0.44 of a step's four subnets, the 3x3 kernels' by
3.6-3.7 (exposure.log); here by 1.0 and 3.0 (timed as for --covering-teacher).
--half (with --balanced-draws): only the first random subnet of a step is drawn balanced, the
second as eqnas draws it (halfway between the two in how often each choice is trained).
--floored-draws: each random subnet drawn from the distinct networks within the cap with the most
spread-out weights under which every choice's own weights (exposure.blocks) are in at least 0.9 of
the largest share of the draws the least drawn one can have (exposure.floored_weights; c8_resnet
within 100M: 0.23 of the random subnets, at best 0.26).
--compensated-lr CAP: each weight's update is scaled by the inverse of the share of the steps so far
in which it had a gradient (at most CAP, at least 1): a rarely drawn choice's own weights (a 5x5
kernel, a wider stage's further fields, a second block) move as far over the training as the
weights every subnet shares, without changing the draws (exposure.py: under eqnas's draws they are
in 0.33-0.44 of a step's four subnets). The shares are counted from the gradients themselves, so
no layout is assumed; they are not saved with the supernet, so an interrupted run restarts them.
--images N: supernet training images (default 20,000).
--seed S: the training's seed (data order, subnet draws; default the space's proxy seed, 0).
--records R: score against these references (default: the 12 of run.sh step 1); a supernet
already trained in OUT is read back, not trained again.

FRONTIER 1 needs frontier.patch applied (git apply; measured worse, so not in eqnas). Needs
runs/rank_fidelity/c8_resnet_100M.jsonl (run.sh step 1) and runs/c8-sn-cpu/map/flops.json (step 2).
"""
import sys, time, json
from pathlib import Path
import torch
ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from supernet_rank import references
from eqnas.data.registry import load_dataset
from eqnas.search import rank_stats
from eqnas.search.proxy import proxy_config
from eqnas.search.space import fit_to_data, load_space
from eqnas.supernet.score import score_data, score_subnet
from eqnas.supernet.supernet import Supernet
from eqnas.supernet.train import Sandwich, train_supernet
from eqnas.supernet.flop_counts import read_flop_counts, write_flop_counts
torch.set_num_threads(1)
out, epochs, rand, frontier = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"


def networks_within(draws):
    """The distinct networks among the samples within the cap (the first sample of each)."""
    samples = [{**draws.outer, **s} for s in draws.space.enumerate()]
    return draws.space.distinct([s for s in samples if draws.space.key(s) in draws.flops])


def weighted_random(draws, rng):
    """A random subnet: one of `draws.networks`, with `draws.weights`."""
    return draws.space.to_arch(rng.choices(draws.networks, weights=draws.weights)[0])


if "--labels" in sys.argv:  # every subnet learns from the labels: no in-place distillation
    import eqnas.supernet.train as sandwich_module

    def labels_step(supernet, images, targets, archs, criterion, distill):
        losses = []
        for arch in archs:
            loss = criterion(supernet(images, arch), targets)
            loss.backward()
            losses.append(loss.item())
        return losses[0], sum(losses[1:]) / max(len(losses) - 1, 1)

    sandwich_module.sandwich_step = labels_step
if "--distinct-draws" in sys.argv:  # uniform over the distinct networks within the cap
    import eqnas.supernet.draws as draws_module
    within_cap_init = draws_module.WithinCap.__init__

    def distinct_init(self, supernet, *args, **kwargs):
        within_cap_init(self, supernet, *args, **kwargs)
        self.networks = networks_within(self)

    draws_module.WithinCap.__init__ = distinct_init
    draws_module.WithinCap.random = lambda self, rng: self.space.to_arch(rng.choice(self.networks))
if "--covering-teacher" in sys.argv:  # the teacher holds every label any subnet within the cap has
    import eqnas.supernet.draws as draws_module
    capped_init = draws_module.WithinCap.__init__

    def covering_init(self, supernet, *args, **kwargs):
        capped_init(self, supernet, *args, **kwargs)
        self.capped_largest = self._largest
        samples = [s for s in self.space.enumerate() if self.space.key({**self.outer, **s}) in self.flops]
        self._largest = {**self.outer, **{label: max(s[label] for s in samples) for label in samples[0]}}

    draws_module.WithinCap.__init__ = covering_init
if "--frontier-teacher" in sys.argv:  # a teacher from the cap's frontier, students it holds
    import random
    import eqnas.supernet.draws as draws_module
    import eqnas.supernet.train as sandwich_module
    from eqnas.supernet.subnets import sample_of
    capped_init = draws_module.WithinCap.__init__

    def frontier_init(self, supernet, *args, **kwargs):
        capped_init(self, supernet, *args, **kwargs)
        self.capped_largest, space = self._largest, self.space
        within = [{**self.outer, **s} for s in space.enumerate() if space.key({**self.outer, **s}) in self.flops]
        canonical = [sample_of(space, space.to_arch(s)) for s in within]  # a dropped stage's labels at their first value
        networks = list({space.key(c): c for c in canonical}.values())

        def holds(big, small):
            return all(big[label] >= small[label] for label in space.searched())

        self.frontier = [n for n in networks if not any(o is not n and holds(o, n) for o in networks)]
        self.held = [[s for s, c in zip(within, canonical) if holds(f, c)] for f in self.frontier]

    def frontier_step_archs(draws, seed, epoch, step, count):
        rng = random.Random(f"{seed}:{epoch}:{step}")
        index = rng.randrange(len(draws.frontier))
        return [draws.space.to_arch(draws.frontier[index]), draws.smallest(),
                *(draws.space.to_arch(rng.choice(draws.held[index])) for _ in range(count))]

    draws_module.WithinCap.__init__ = frontier_init
    sandwich_module.step_archs = frontier_step_archs
if "--balanced-draws" in sys.argv:  # the rare choices' values as likely as the common ones'
    import eqnas.supernet.draws as draws_module
    from exposure import BALANCED, balanced_weights, uses, within_values
    balanced_init = draws_module.WithinCap.__init__

    def balanced_draws_init(self, supernet, *args, **kwargs):
        balanced_init(self, supernet, *args, **kwargs)
        self.networks = networks_within(self)
        values = within_values(self.space, self.networks)
        self.weights = balanced_weights(self.networks, {label: values[label] for label in BALANCED})
        total = sum(self.weights)
        for label in values:
            users = [(n, w) for n, w in zip(self.networks, self.weights) if uses(n, label)]
            mass = sum(w for _, w in users)
            print(f"balanced draws: {label} " + " ".join(f"{v}:{sum(w for n, w in users if n[label] == v) / mass:.2f}" for v in values[label])
                  + f" (networks using it: {mass / total:.2f} of the draws)", flush=True)

    draws_module.WithinCap.__init__ = balanced_draws_init
    eqnas_random = draws_module.WithinCap.random
    draws_module.WithinCap.random = weighted_random
    if "--half" in sys.argv:  # the first random subnet balanced, the second as eqnas draws it
        import random
        import eqnas.supernet.train as sandwich_module

        def half_step_archs(draws, seed, epoch, step, count):
            rng = random.Random(f"{seed}:{epoch}:{step}")
            return [draws.largest(), draws.smallest(), draws.random(rng), *(eqnas_random(draws, rng) for _ in range(count - 1))]

        sandwich_module.step_archs = half_step_archs
if "--floored-draws" in sys.argv:  # every choice's own weights in as many draws as the cap allows
    import math
    import eqnas.supernet.draws as draws_module
    from exposure import floored_weights, within_values
    floored_init = draws_module.WithinCap.__init__

    def floored_draws_init(self, supernet, *args, **kwargs):
        floored_init(self, supernet, *args, **kwargs)
        self.networks = networks_within(self)  # a dropped stage's labels are ignored (exposure.uses)
        self.weights, floor = floored_weights(self.networks, within_values(self.space, self.networks))
        spread = math.exp(-sum(w * math.log(w) for w in self.weights if w > 0))
        print(f"floored draws: every choice's own weights in at least {0.9 * floor:.2f} of the random draws "
              f"(at best {floor:.2f}); {len(self.networks)} networks, {spread:.1f} effectively", flush=True)

    draws_module.WithinCap.__init__ = floored_draws_init
    draws_module.WithinCap.random = weighted_random
if "--compensated-lr" in sys.argv:  # rarely trained weights take proportionally larger steps
    import types
    import eqnas.supernet.train as sandwich_module
    cap = float(sys.argv[sys.argv.index("--compensated-lr") + 1])
    make_plain_optimizer, compensation = sandwich_module.make_optimizer, {"counts": {}, "steps": 0, "cpu": 0.0}

    def compensated_optimizer(params, *args, **kwargs):
        optimizer = make_plain_optimizer(params, *args, **kwargs)
        weights = [p for group in optimizer.param_groups for p in group["params"]]
        counts = compensation["counts"] = {p: torch.ones_like(p) for p in weights}  # a prior of one trained step,
        plain_step = optimizer.step                                                # so the first steps are not amplified

        def step(self, *a, **k):
            start = time.process_time()
            before = [p.detach().clone() for p in weights]
            compensation["steps"] += 1
            for p in weights:
                if p.grad is not None:
                    counts[p] += (p.grad != 0).to(p.dtype)
            result = plain_step(*a, **k)
            with torch.no_grad():
                for p, old in zip(weights, before):
                    scale = ((compensation["steps"] + 1) / counts[p]).clamp(1.0, cap)
                    p.copy_(old + scale * (p - old))
            compensation["cpu"] += time.process_time() - start
            return result

        optimizer.step = types.MethodType(step, optimizer)  # a bound method, as the scheduler wraps it
        return optimizer

    sandwich_module.make_optimizer = compensated_optimizer
    plain_train = train_supernet

    def train_supernet(supernet, *args, **kwargs):
        """The plain training, then how often each rarely trained weight had a gradient."""
        history = plain_train(supernet, *args, **kwargs)
        names, steps = {p: n for n, p in supernet.named_parameters()}, compensation["steps"]
        print(f"compensated lr (cap {cap:g}): {compensation['cpu']:.0f} CPU s over {steps} steps for the "
              f"optimizer step, the counts and the scaling", flush=True)
        for p, count in compensation["counts"].items():
            share = count / (steps + 1)
            if float(share.min()) < 0.9:
                print(f"  {names.get(p, '?')} {tuple(p.shape)}: a gradient in {float(share.min()):.2f}-{float(share.max()):.2f} "
                      f"of the steps (mean {float(share.mean()):.2f}), mean scale {float((1 / share).clamp(1, cap).mean()):.2f}", flush=True)
        return history
images = int(sys.argv[sys.argv.index("--images") + 1]) if "--images" in sys.argv else 20000
records = Path(sys.argv[sys.argv.index("--records") + 1]) if "--records" in sys.argv else ROOT / "runs/rank_fidelity/c8_resnet_100M.jsonl"
space = fit_to_data(load_space(ROOT / "spaces/c8_resnet.yaml"))
refs = references(records, "3x20000")
splits = load_dataset(space.proxy.data, space.proxy.data_root, resolution=max(space.choices["resolution"]), seed=space.proxy.seed)
config = proxy_config(space.proxy, "cpu").replace(epochs=epochs, subset=images)
if "--seed" in sys.argv:
    config = config.replace(seed=int(sys.argv[sys.argv.index("--seed") + 1]))
sn = Supernet(space, {}, "separate")
if "--zero-init" in sys.argv:
    with torch.no_grad():
        for key, value in sn.weights.items():
            if ":body:1:1:bn:weight" in key:
                value.zero_()
cache = read_flop_counts(ROOT / "runs/c8-sn-cpu/map", ())
counted_here = not cache  # the training counts them into `cache`; kept for the next variant
TIMED = ("--covering-teacher", "--frontier-teacher", "--balanced-draws", "--floored-draws")  # step cost printed first
if any(flag in sys.argv for flag in TIMED) and not (out / "separate" / "supernet" / "all" / "supernet.pt").is_file():
    from eqnas.supernet.draws import subnet_draws
    from eqnas.supernet.train import DISTILLATION, sandwich_step, step_archs
    from eqnas.train.loaders import take_subset, train_loader
    from eqnas.train.optim import make_criterion
    probe = Supernet(space, {}, "separate").train()
    draws = subnet_draws(probe, 100_000_000, cache)
    if hasattr(draws, "frontier"):
        print(f"frontier: {len(draws.frontier)} networks, {min(map(len, draws.held))}-{max(map(len, draws.held))} "
              f"samples within the cap held by each", flush=True)
    static = probe.extract(space.to_arch(getattr(draws, "capped_largest", draws._largest))).train()
    criterion, distill = make_criterion(splits.info.task, 0.0), DISTILLATION[splits.info.task]
    batches = [b for _, b in zip(range(4), train_loader(take_subset(splits.train, 4 * config.batch_size, 0), config.batch_size, 0, 0))]
    cpu = time.process_time()
    for step, (x, y) in enumerate(batches):
        sandwich_step(probe, x, y, step_archs(draws, 0, 1, step, rand), criterion, distill)
    sandwich_cpu = time.process_time() - cpu
    cpu = time.process_time()
    for x, y in batches:
        criterion(static(x), y).backward()
    alone_cpu = time.process_time() - cpu
    share = epochs * images / (3 * 20000)
    print(f"cost: a sandwich step is {sandwich_cpu / alone_cpu:.2f}x a step of the largest subnet within 100M alone "
          f"({sandwich_cpu:.1f} vs {alone_cpu:.1f} CPU s for 4 steps); {epochs}x{images} is {share:.2f} of the reference "
          f"3x20000, so this supernet costs {share * sandwich_cpu / alone_cpu:.2f} reference trainings", flush=True)
    del probe, static
cpu = time.process_time()
train_supernet(sn, splits, config, out / "separate" / "supernet" / "all", Sandwich(random_subnets=rand, flops_cap=100_000_000, **({"frontier": True} if frontier else {})),
               log=lambda l: print(l, flush=True) if "step 310" in l or "step 250/" in l or "counting" in l or "within" in l else None, flops_cache=cache)
print(f"train {time.process_time() - cpu:.0f} CPU s", flush=True)
if counted_here and cache:
    write_flop_counts(ROOT / "runs/c8-sn-cpu/map", (), cache)
sn.eval()
keys = sorted(refs, key=lambda k: refs[k][1]); truth = [refs[k][1] for k in keys]
res = {}
for val, seed in ((500, 0), (500, 1), (2000, 0)):
    data = score_data(splits, seed=seed, val_size=val)
    acc = [score_subnet(sn, refs[k][0], data)["acc"] for k in keys]
    res[f"{val}/{seed}"] = acc
    print(f"val {val} seed {seed}: tau {rank_stats.kendall_tau(acc, truth):.2f} rho {rank_stats.spearman_rho(acc, truth):.2f} top {rank_stats.tau_within_top(acc, truth):.2f}", flush=True)
    print("  " + " ".join(f"{a:.3f}/{t:.3f}" for a, t in zip(acc, truth)), flush=True)
json.dump({"keys": keys, "truth": truth, "acc": res}, open(out / f"variant_{records.stem}.json", "w"))
