import numpy as np
import pytest
import torch

from mllab.continual import Scenario, make_stream, permuted_stream, split_stream
from mllab.core.errors import BadInput


def test_split_stream_has_two_digits_per_task_and_within_task_labels():
    stream = split_stream(5, seed=0)
    assert [t.classes for t in stream.tasks] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert sum(len(t.train) for t in stream.tasks) == 3500
    assert all(set(t.train.y.tolist()) == {0, 1} for t in stream.tasks)


def test_permuted_stream_permutes_pixels_per_task():
    stream = permuted_stream(3, seed=0)
    x0, x1 = stream.tasks[0].train.x, stream.tasks[1].train.x
    assert not torch.equal(x0, x1) and torch.allclose(x0.sum(1), x1.sum(1))  # the same pixels, moved


def test_scenarios_targets_and_masks():
    y, task = torch.tensor([1, 0]), torch.tensor([0, 2])
    out = torch.zeros(2, 6)
    s = Scenario("task", (2, 2, 2))
    assert s.targets(y, task).tolist() == [1, 4] and s.n_outputs == 6
    masked = s.logits(out, task, seen=3)
    assert torch.isfinite(masked[0, :2]).all() and torch.isinf(masked[0, 2:]).all()
    assert torch.isfinite(masked[1, 4:]).all() and torch.isinf(masked[1, :4]).all()
    c = Scenario("class", (2, 2, 2))
    assert torch.isfinite(c.logits(out, task, seen=2)[:, :4]).all() and torch.isinf(c.logits(out, task, 2)[:, 4:]).all()
    d = Scenario("domain", (2, 2, 2))
    assert d.n_outputs == 2 and d.targets(y, task).tolist() == [1, 0]


@pytest.mark.parametrize("make, match", [
    (lambda: split_stream(11), "a task would be empty"),
    (lambda: split_stream(0), "tasks"),
    (lambda: Scenario("open-world", (2,)), "unknown scenario"),
    (lambda: make_stream("rotated"), "unknown task stream"),
])
def test_bad_input_one_line(make, match):
    with pytest.raises(BadInput, match=match) as exc:
        make()
    assert "\n" not in str(exc.value)


def _colour_cifar(folder, n_train=100, n_test=30):
    """A CIFAR-10 folder of random colour images (channels differ), 10 / 3 of each class."""
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1.bin", n_train), ("test_batch.bin", n_test)):
        labels = np.arange(n, dtype=np.uint8) % 10
        pixels = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
        (folder / name).write_bytes(np.concatenate([labels[:, None], pixels], 1).tobytes())
    return folder


def test_streams_from_the_users_cifar10_flatten_colour_images(tmp_path):
    folder = _colour_cifar(tmp_path)
    split = split_stream(5, seed=1, dataset="cifar10", data_dir=folder)
    assert split.name == "split cifar10" and split.n_inputs == 3072
    assert [t.classes for t in split.tasks] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert sum(len(t.test) for t in split.tasks) == 30  # the files' own test set
    permuted = make_stream("permuted", 3, seed=1, dataset="cifar10", data_dir=folder)
    x0, x2 = (permuted.tasks[i].train.x.view(-1, 3, 1024) for i in (0, 2))  # (N, C, H·W)
    assert not torch.equal(x0, x2)
    # one permutation of the pixel positions, a colour pixel moving as a whole: its (r, g, b) triplet is kept
    perm = [int((x0[0].T == x2[0, :, j]).all(1).nonzero()[0]) for j in range(1024)]
    assert torch.equal(x0[:, :, perm], x2)


def test_mnist5k_streams_are_unchanged_by_the_dataset_argument():
    a, b = split_stream(2, seed=0), split_stream(2, seed=0, dataset="mnist5k")
    assert torch.equal(a.tasks[1].train.x, b.tasks[1].train.x) and a.n_inputs == 784
    p = permuted_stream(2, seed=0)
    assert torch.equal(p.tasks[0].train.x, make_stream("split", 1, seed=0).tasks[0].train.x)  # task 0 unpermuted
