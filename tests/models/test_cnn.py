"""The CNN family: output shapes for each head, pooling on/off, bad geometry."""

import pytest
import torch

from mllab.core.errors import BadInput
from mllab.models.cnn import CNN, parameter_count


@pytest.mark.parametrize("pool", [True, False])
@pytest.mark.parametrize("head", ["global", "flatten"])
def test_classifier_shapes(head, pool):
    model = CNN(1, 10, channels=(4, 8), pool=pool, head=head)
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("pool", [True, False])
def test_cell_head_gives_one_logit_per_cell(pool):
    model = CNN(3, 1, channels=(4, 4, 4), kernels=(5, 3, 3), pool=pool, head="cells", input_size=9)
    out = model(torch.rand(2, 3, 9, 9))
    assert out.shape == (2, 81)
    blocks = out.view(2, 9, 9)
    # pooled: three 2×2 pools leave a 2×2 map; each logit covers an 8×8 block of cells
    assert (blocks[:, :8, :8] == blocks[:, :1, :1]).all() == pool


def test_global_head_has_the_same_parameters_with_and_without_pooling():
    assert parameter_count(CNN(pool=True)) == parameter_count(CNN(pool=False))


@pytest.mark.parametrize("kwargs,field", [
    (dict(kernels=9, padding=0, input_size=7), "kernel"), (dict(strides=0), "stride"), (dict(padding=-1), "padding"),
    (dict(head="dense"), "head"), (dict(kernels=4), "odd"), (dict(head="cells", strides=2), "stride"),
])
def test_bad_geometry(kwargs, field):
    with pytest.raises(BadInput, match=field):
        CNN(1, 10, channels=(4,), **kwargs)
