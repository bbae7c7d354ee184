"""The weight-sharing equivariant supernet of a space: train once (sandwich rule with in-place
distillation), then score or extract any subnet with inherited weights.

    supernet = Supernet(adapt_space(space, splits.info), outer={...}, kernels="map")
    train_supernet(supernet, splits, TrainConfig(...), out_dir)    # resumes from out_dir
    score_subnet(supernet, sample_or_arch, score_data(splits))     # {"acc", "auc", "loss", "seconds"}
    supernet.extract(sample_or_arch)                               # the static network, same logits
    eqnas.load(out_dir, subnet="best.json")                        # the same, from the run folder
"""
from eqnas.supernet.norms import recalibrate
from eqnas.supernet.record import load_subnet, load_supernet
from eqnas.supernet.score import ScoreData, score_data, score_subnet
from eqnas.supernet.subnets import adapt_space, outer_choices
from eqnas.supernet.supernet import SubnetView, Supernet
from eqnas.supernet.train import Sandwich, train_supernet

__all__ = [
    "Sandwich", "ScoreData", "SubnetView", "Supernet", "adapt_space", "load_subnet", "load_supernet",
    "outer_choices", "recalibrate", "score_data", "score_subnet", "train_supernet",
]
