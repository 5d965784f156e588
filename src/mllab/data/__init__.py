"""Offline datasets, generated tasks, loaders for users' MNIST / CIFAR-10 folders."""

from mllab.data.datasets import (
    DATASETS,
    LOADERS,
    Dataset,
    RawData,
    Split,
    check_arrays,
    load_arrays,
    load_dataset,
    make_dataset,
    register_dataset,
)
from mllab.data.loader import TensorLoader

__all__ = ["DATASETS", "LOADERS", "Dataset", "RawData", "Split", "TensorLoader", "check_arrays", "load_arrays",
           "load_dataset", "make_dataset", "register_dataset"]

from mllab.data.board import make_board_task  # noqa: E402  (section cnn)
from mllab.data.images import load_images  # noqa: E402

__all__ += ["load_images", "make_board_task"]

from mllab.data.sequences import Sequences, distance_task, local_task, position_task  # noqa: E402  (section attention)

__all__ += ["Sequences", "distance_task", "local_task", "position_task"]

from mllab.data.text import number_task  # noqa: E402  (section seq2seq)

__all__ += ["number_task"]

from mllab.data.domains import DomainPair, make_domain_pair  # noqa: E402  (section adaptation)

__all__ += ["DomainPair", "make_domain_pair"]

from mllab.data.canvases import Canvases, canvas_splits, make_canvases  # noqa: E402  (section seq2seq)

__all__ += ["Canvases", "canvas_splits", "make_canvases"]
