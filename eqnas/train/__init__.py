"""Training: one loop for search proxies and full retraining, optional DP-SGD (Opacus enters
only through `eqnas.train.privacy`), named recipes, and checkpoints that `eqnas.load` reads."""
from eqnas.train.checkpoint import load_trained
from eqnas.train.config import TrainConfig
from eqnas.train.loop import TrainResult, train
from eqnas.train.recipes import RECIPES, resolve_config

__all__ = ["RECIPES", "TrainConfig", "TrainResult", "load_trained", "resolve_config", "train"]
