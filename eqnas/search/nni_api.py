"""The only eqnas module that imports ``nni``: the NNI names the rest of the NNI door
(``nni_adapter``, ``nni_strategies``, ``nni_middleware``, ``nni_manager``) uses, imported once.

NNI was archived upstream in 2024; keeping its names in one place keeps it swappable. Importing
this module imports torch and pytorch-lightning (``nni.nas`` needs them): a few seconds, so
import the door where a search starts.
"""
from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # NNI 3.0 predates this torch and warns about each torch.nn class it does not recognise.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"nni\.")
    import nni
    import nni.experiment.launcher as nni_launcher
    from nni.experiment.config import LocalConfig
    from nni.experiment.config.training_service import TrainingServiceConfig
    from nni.experiment.config.utils import load_training_service_config
    from nni.mutable import ensure_frozen
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.execution.event import ModelEventType, TrainingEndEvent
    from nni.nas.experiment import NasExperiment
    from nni.nas.experiment.config import NasExperimentConfig, SequentialEngineConfig, TrainingServiceEngineConfig
    from nni.nas.nn.pytorch import ModelSpace
    from nni.nas.space import ExecutableModelSpace, ModelStatus
    from nni.nas.strategy import TPE, GridSearch, PolicyBasedRL, Random, RegularizedEvolution, Strategy
    from nni.nas.strategy.middleware import Chain, Deduplication, Filter
    from nni.nas.strategy.utils import DeduplicationHelper
    from nni.tools.nnictl.config_utils import Experiments

__all__ = [
    "TPE", "Chain", "Deduplication", "DeduplicationHelper", "ExecutableModelSpace", "Experiments", "Filter", "FunctionalEvaluator",
    "GridSearch", "LocalConfig", "ModelEventType", "ModelSpace", "ModelStatus", "NasExperiment",
    "NasExperimentConfig", "PolicyBasedRL", "Random", "RegularizedEvolution", "SequentialEngineConfig", "Strategy",
    "TrainingEndEvent", "TrainingServiceConfig", "TrainingServiceEngineConfig", "ensure_frozen",
    "load_training_service_config", "nni", "nni_launcher",
]
