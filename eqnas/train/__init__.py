"""Training: one loop for search proxies and full retraining, optional DP-SGD (Opacus enters
through `eqnas.train.privacy` and the grad samplers it registers), named recipes, and
checkpoints that `eqnas.load` reads. The names below are imported when first used."""
from eqnas.lazy import lazy_module

lazy_module(__name__, {
    "RECIPES": "eqnas.train.recipes:RECIPES",
    "TrainConfig": "eqnas.train.config:TrainConfig",
    "TrainResult": "eqnas.train.loop:TrainResult",
    "load_trained": "eqnas.build:load_trained",
    "resolve_config": "eqnas.train.recipes:resolve_config",
    "train": "eqnas.train.loop:train",
})

__all__ = ["RECIPES", "TrainConfig", "TrainResult", "load_trained", "resolve_config", "train"]
