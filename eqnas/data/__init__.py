"""Datasets by name, offline first: see `eqnas.data.registry`.

Importing this package registers every built-in dataset.
"""
from eqnas.data.base import DatasetInfo, Splits
from eqnas.data.registry import dataset_info, dataset_names, load_dataset, register_dataset
from eqnas.data import cifar, fashion_mnist, medmnist_data, synthetic  # noqa: F401  (registration)
from eqnas.data.network import network_available

__all__ = ["DatasetInfo", "Splits", "dataset_info", "dataset_names", "load_dataset", "network_available",
           "register_dataset"]
