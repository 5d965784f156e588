"""Pure nn.Modules: norms written from their formulas, attention, positional encodings, conv helpers."""

from mllab.layers.batchnorm import BatchNorm1d, BatchNorm2d
from mllab.layers.norms import NORMS, make_norm

__all__ = ["NORMS", "BatchNorm1d", "BatchNorm2d", "make_norm"]

from mllab.layers.conv import conv2d, receptive_field  # noqa: E402  (section cnn)
from mllab.layers.spatial import RandomAffine, SpatialTransformer, random_affine  # noqa: E402

__all__ += ["conv2d", "receptive_field", "RandomAffine", "SpatialTransformer", "random_affine"]

from mllab.layers.attention import MultiHeadAttention, banded_attention  # noqa: E402  (section attention)
from mllab.layers.positional import LearnedEncoding, RelativePositionBias, SinusoidalEncoding  # noqa: E402

__all__ += ["MultiHeadAttention", "banded_attention", "LearnedEncoding", "RelativePositionBias", "SinusoidalEncoding"]

from mllab.layers.grad_reverse import GradReverse, grad_reverse  # noqa: E402  (section adaptation)

__all__ += ["GradReverse", "grad_reverse"]
