"""The cnn section's experiments: bad input through the CLI (one line, exit 2, no record) and the receptive-field
apparatus (the formula flagged exact on every stack the experiment judges)."""

import pytest
import torch

from mllab.cli import main
from mllab.experiments.cnn.receptive_field import STACKS
from mllab.core.config import make_config
from mllab.core.errors import BadInput
from mllab.data.images import load_images
from mllab.experiments.cnn.common import accuracy, train_steps
from mllab.experiments.cnn.pooling import PoolingConfig, digit_net
from mllab.experiments.cnn.receptive_field import ReceptiveFieldConfig
from mllab.experiments.cnn.scale_rotation import ScaleRotationConfig, make_model
from mllab.layers.conv import receptive_field
from tests.experiments.real_data import run_smoke, write_cifar_like, write_mnist_like


@pytest.mark.parametrize("name,override,field", [
    ("receptive-field", "image=3", "kernel"),  # the kernel is larger than the (padded) input
    ("receptive-field", "stacks=spiral", "stacks"),
    ("pooling", "board_size=4", "board_size"),  # cannot hold five in a row
    ("pooling", "digit_steps=0", "digit_steps"),
    ("parameter-sharing", "sizes=5000", "sizes"),
    ("parameter-sharing", "lrs=-0.1", "lrs"),
    ("scale-rotation", "scale_low=2", "scale_low"),
    ("scale-rotation", "aug_angle=-5", "aug_angle"),
    ("pooling", "dataset=digits", "dataset"),  # 8 × 8: too small for these CNNs (the message says why)
    ("scale-rotation", "dataset=digits", "dataset"),
    ("receptive-field", "dataset=digits", "dataset"),
    ("scale-rotation", "dataset=svhn", "dataset"),
    ("pooling", "dataset=mnist", "--data-dir"),  # a user dataset without its folder
    ("receptive-field", "dataset=cifar10", "--data-dir"),
])
def test_bad_input_is_one_line_and_exit_2(name, override, field, tmp_path, capsys):
    out = tmp_path / "rec"
    code = main(["run", name, "--profile", "smoke", "--set", override, "--out", str(out), "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and field in err, err
    assert not out.exists()


@pytest.mark.parametrize("name", list(STACKS))
def test_judged_stacks_are_in_the_exact_regime(name):
    assert all(info.exact for info in receptive_field(STACKS[name], (1, 28, 28)))


# --- real data: --set dataset=mnist|cifar10 --data-dir (small folders of real mnist5k digits) ----------------------

@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return {"mnist": write_mnist_like(root / "mnist"), "cifar10": write_cifar_like(root / "cifar")}


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
@pytest.mark.parametrize("name", ["pooling", "scale-rotation", "receptive-field"])
def test_cnn_experiments_run_on_a_users_folder(name, dataset, folders, tmp_path):
    result = run_smoke(name, tmp_path / "rec", dataset, folders[dataset])
    if name == "receptive-field":  # the probed stacks read the data's channels, and the formula stays exact
        channels = {"mnist": 1, "cifar10": 3}[dataset]
        params = result["metrics"]["3x3: final field / jump / params / dense params"][2]
        assert params == (channels * 2 * 9 + 2) + 2 * (2 * 2 * 9 + 2)  # C·C'·k² + C' per conv, C' = 2 filters
        assert result["metrics"]["neurons_mismatched"] == {}


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_cnns_take_the_datas_channels_and_size(shape):
    x = torch.rand(4, *shape)
    assert digit_net(make_config(PoolingConfig, "smoke"), True, shape)(x).shape == (4, 10)
    assert digit_net(make_config(PoolingConfig, "smoke"), False, shape)(x).shape == (4, 10)
    for arm in ("plain", "augmented", "stn"):
        model = make_model(make_config(ScaleRotationConfig, "smoke"), arm, 0, shape)
        assert model.train()(x).shape == (4, 10) and model.eval()(x).shape == (4, 10)


def test_scale_rotation_cnn_learns_real_digits_from_cifar_batches(folders):
    data = load_images(seed=0, name="cifar10", data_dir=folders["cifar10"])
    model = make_model(make_config(ScaleRotationConfig, "smoke"), "plain", 0, (3, 32, 32))
    model = train_steps(model, data.train, steps=80, lr=3e-3, batch_size=64, seed=0)
    assert accuracy(model, data.test) > 0.5  # chance 0.1: the 3 × 32 × 32 path learns


@pytest.mark.parametrize("cls", [PoolingConfig, ScaleRotationConfig, ReceptiveFieldConfig])
def test_full_profile_takes_mnist_when_a_data_folder_is_given(cls):
    assert make_config(cls, "full", has_data_dir=True).dataset == "mnist"
    assert make_config(cls, "full").dataset == make_config(cls, "quick", has_data_dir=True).dataset == "mnist5k"
    with pytest.raises(BadInput, match=r"^--set dataset: this experiment cannot take 'digits' \(its 8 × 8 images"):
        make_config(cls, "quick", ["dataset=digits"])
