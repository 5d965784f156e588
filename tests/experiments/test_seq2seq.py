"""The seq2seq section's experiments: bad input through the CLI is one line and exit 2; the warm-up probe."""

import pytest
import torch

from mllab.cli import main
from mllab.core.seeding import derive_seed
from mllab.data.text import number_task
from mllab.experiments.seq2seq.common import train_nat, train_seq2seq
from mllab.experiments.seq2seq.warmup import FirstGradients
from mllab.models.nat import NATransformer
from mllab.models.transformer import Seq2SeqTransformer


@pytest.mark.parametrize("args", [
    ["run", "seq2seq-translation", "--profile", "smoke", "--set", "languages=en,xx"],  # unknown language
    ["run", "seq2seq-translation", "--profile", "smoke", "--set", "beam_size=0"],
    ["run", "seq2seq-translation", "--profile", "smoke", "--set", "max_len=0"],
    ["run", "transformer-warmup", "--profile", "smoke", "--set", "warmup_steps=-1"],
    ["run", "guided-attention", "--profile", "smoke", "--set", "guide_weight=-0.5"],
    ["run", "at-vs-nat", "--profile", "smoke", "--set", "iterations=-1"],
    ["run", "at-vs-nat", "--profile", "smoke", "--set", "student=rnn"],
    ["run", "seq2seq-multilabel", "--profile", "smoke", "--set", "max_digits=5"],
    ["run", "seq2seq-multilabel", "--profile", "smoke", "--set", "min_digits=0"],
    ["run", "seq2seq-multilabel", "--profile", "smoke", "--set", "min_digits=3", "--set", "max_digits=2"],
])
def test_bad_input_exits_2_with_one_line(args, tmp_path, capsys):
    code = main([*args, "--out", str(tmp_path / "rec")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert not (tmp_path / "rec").exists()


def test_first_gradients_probe_sees_every_layer_once():
    task = number_task("en", high=60, seed=0)
    torch.manual_seed(0)
    model = Seq2SeqTransformer(len(task.src_vocab), len(task.tgt_vocab), width=16, heads=4, layers=2, mlp_ratio=2)
    probe = FirstGradients()
    train_seq2seq(model, task.train, epochs=1, lr=1e-3, batch_size=16, seed=0, callbacks=[probe])
    assert sorted(probe.norms) == ["dec 1", "dec 2", "enc 1", "enc 2"]
    assert all(v > 0 for v in probe.norms.values())


def test_training_helpers_take_a_derived_63_bit_seed():
    """derive_seed gives up to 2⁶³ − 1; TensorLoader multiplies its seed, so the helpers hand it 32 bits."""
    seed = derive_seed(2**32 - 1, "judge", 0)
    task = number_task("en", high=60, seed=seed)

    def weights(kind: str) -> list[torch.Tensor]:
        torch.manual_seed(seed)
        if kind == "at":
            model = Seq2SeqTransformer(len(task.src_vocab), len(task.tgt_vocab), width=16, heads=4, layers=1)
            train_seq2seq(model, task.train, epochs=1, lr=1e-3, batch_size=16, seed=seed)
        else:
            model = NATransformer(len(task.src_vocab), len(task.tgt_vocab), width=16, heads=4, layers=1, max_len=12)
            train_nat(model, task.train.src, task.train.tgt, epochs=1, lr=1e-3, batch_size=16, seed=seed)
        return [p.detach().clone() for p in model.parameters()]

    for kind in ("at", "nat"):
        assert all(torch.equal(a, b) for a, b in zip(weights(kind), weights(kind)))  # and reproducible
