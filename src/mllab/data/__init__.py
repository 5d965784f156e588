"""Offline datasets, generated tasks, loaders for users' MNIST / CIFAR-10 folders."""

from mllab.data.datasets import (
    DATASETS,
    Dataset,
    Split,
    check_arrays,
    load_dataset,
    make_dataset,
)
from mllab.data.loader import TensorLoader

__all__ = ["DATASETS", "Dataset", "Split", "TensorLoader", "check_arrays", "load_dataset", "make_dataset"]
