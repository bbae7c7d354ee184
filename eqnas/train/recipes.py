"""Named training presets: each fills some `TrainConfig` fields; flags given explicitly win.

Presets fix hyper-parameters, not the training length where the source states it in updates of
one dataset: pass `--epochs` for yours (each docstring gives the source's count).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from eqnas.errors import EqnasError
from eqnas.registry import Registry
from eqnas.train.config import DP_FIELDS, TrainConfig


@dataclass(frozen=True)
class Recipe:
    name: str
    citation: str  # one line, shown by `eqnas retrain --help`
    values: Mapping[str, Any] = field(default_factory=dict)
    doc: str = ""


RECIPES: Registry[Recipe] = Registry("recipe")


def register_recipe(name: str, citation: str) -> Callable[[Callable[[], dict[str, Any]]], Recipe]:
    """Decorator on a function returning the preset's values; its docstring is the long story."""

    def add(make: Callable[[], dict[str, Any]]) -> Recipe:
        values = make()
        TrainConfig(**values)  # a preset must itself be a valid configuration
        return RECIPES.add(name, Recipe(name, citation, MappingProxyType(values), (make.__doc__ or "").strip()))

    return add


recipe_names = RECIPES.names
get_recipe = RECIPES.get_or_fail


def resolve_config(recipe: str | None = None, **explicit: Any) -> TrainConfig:
    """TrainConfig defaults <- the recipe's values <- explicit values (None counts as not given)."""
    given = {key: value for key, value in explicit.items() if value is not None}
    values = dict(get_recipe(recipe).values) if recipe is not None else {}
    config = TrainConfig.from_dict({**values, **given})
    stray = [key for key in DP_FIELDS if key in given]
    if stray and not config.dp:
        raise EqnasError(f"{stray[0]}={given[stray[0]]!r} only applies to DP-SGD: add --dp (or drop it)")
    chosen = {**values, **given}
    if "epsilon" in chosen and chosen.get("noise_multiplier") is not None:
        raise EqnasError(f"epsilon={chosen['epsilon']!r} and noise_multiplier={chosen['noise_multiplier']!r} both fix "
                         f"the noise: give one (a target epsilon, or a noise multiplier whose epsilon is reported)")
    return config


@register_recipe("de2022", "De et al. 2022, Unlocking high-accuracy differentially private image "
                           "classification through scale (arXiv:2204.13650)")
def _de2022() -> dict[str, Any]:
    """DP-SGD at scale (De, Berrada, Hayes, Smith, Balle 2022, arXiv:2204.13650; code:
    github.com/google-deepmind/jax_privacy, configs/cifar10_wrn_16_4_eps1.py): logical batch 4096,
    SGD without momentum at a constant learning rate 2, clipping norm 1, augmentation
    multiplicity 16 of random crops and flips, EMA of the weights (decay 0.9999, with warm-up),
    (8, 1e-5)-DP. The source trains for a fixed number of updates (875 at epsilon 1 on CIFAR-10);
    choose --epochs for your data."""
    return dict(dp=True, epsilon=8.0, delta=1e-5, batch_size=4096, optimizer="sgd", lr=2.0, momentum=0.0,
                weight_decay=0.0, schedule="constant", max_grad_norm=1.0, augment="crop_flip", aug_mult=16,
                ema_decay=0.9999)


@register_recipe("hoelzl2023", "Hölzl, Rueckert & Kaissis 2023, Equivariant Differentially Private Deep "
                               "Learning: Why DP-SGD Needs Sparser Models (AISec '23, arXiv:2301.13104)")
def _hoelzl2023() -> dict[str, Any]:
    """Equivariant DP-SGD (Hölzl, Rueckert, Kaissis, AISec 2023, arXiv:2301.13104,
    doi:10.1145/3605764.3623902; code: github.com/hlzl/equivariant, conf/setup/eqresnet9-cifar10.yaml
    and conf/setup/optim/sgd.yaml):
    logical batch 8192, SGD (torch defaults: no momentum, no weight decay) at a constant learning
    rate 2, clipping norm 2, augmentation multiplicity 4 of random crops and flips, EMA of the
    weights with decay 0.999 (torch_ema, with warm-up), group norm over fields, Mish,
    (8, 1e-5)-DP and the RDP accountant. The source runs 2160 updates on CIFAR-10 (about 353
    epochs at this batch); choose --epochs for your data. Differences: their first view is the
    un-augmented image and they sum the per-view gradients; we draw K augmented views and average
    (De et al.), which only rescales the gradient before clipping."""
    return dict(dp=True, epsilon=8.0, delta=1e-5, batch_size=8192, optimizer="sgd", lr=2.0, momentum=0.0,
                weight_decay=0.0, schedule="constant", max_grad_norm=2.0, augment="crop_flip", aug_mult=4,
                ema_decay=0.999, norm="group", activation="mish", accountant="rdp")


@register_recipe("medmnist", "Yang et al. 2023, MedMNIST v2 (Scientific Data 10:41, arXiv:2110.14795): "
                             "the ResNet baselines' training")
def _medmnist() -> dict[str, Any]:
    """MedMNIST v2 baselines (Yang, Shi, Wei, Liu, Zhao, Ke, Pfister, Ni 2023, Scientific Data
    10:41, arXiv:2110.14795; code: github.com/MedMNIST/experiments): Adam at learning rate 1e-3,
    batch 128, 100 epochs, learning rate x0.1 at epochs 50 and 75, no augmentation, the model
    chosen by validation AUC."""
    return dict(optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=128, epochs=100, schedule="step",
                augment="none", aug_mult=1, ema_decay=0.0, select="auc", label_smoothing=0.0)


@register_recipe("tramer2021", "Tramèr & Boneh 2021, Differentially Private Learning Needs Better Features "
                               "(or Much More Data) (ICLR 2021, arXiv:2011.11660): the end-to-end CNNs")
def _tramer2021() -> dict[str, Any]:
    """End-to-end DP-SGD CNN of Tramèr & Boneh (ICLR 2021, arXiv:2011.11660; code:
    github.com/ftramer/Handcrafted-DP, cnns.py), Fashion-MNIST row: 86.0% test accuracy at
    (3, 1e-5)-DP with examples/tramer2021_cnn.json. SGD with momentum 0.9 at a constant learning
    rate 4, batch 2048, clipping norm 0.1, noise multiplier 2.15, 40 epochs, no augmentation, no
    weight average, images in [0, 1] without normalisation (their Fashion-MNIST loader is ToTensor
    alone). Their epsilon 3 is the classic RDP-to-DP conversion (Mironov 2017) of sample rate
    2048/60000 over 1160 steps (29 full batches per epoch); Opacus's accountant today converts
    with Balle et al. 2020, which gives about 2.6 for the same noise (tests/test_recipes.py)."""
    return dict(dp=True, noise_multiplier=2.15, delta=1e-5, batch_size=2048, epochs=40, optimizer="sgd", lr=4.0,
                momentum=0.9, weight_decay=0.0, schedule="constant", max_grad_norm=0.1, augment="none", aug_mult=1,
                ema_decay=0.0, accountant="rdp")
