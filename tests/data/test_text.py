"""Text tasks: number→words split by number, German morphemes, two wordings for fr+fr_BE, scoring, bad input."""

import numpy as np
import pytest

from mllab.core.errors import BadInput
from mllab.data.text import (
    BOS,
    EOS,
    PAD,
    Vocab,
    exact_match,
    number_task,
    number_words,
    score_bleu,
    split_numbers,
    word_pieces,
)


@pytest.mark.parametrize("lang", ["en", "de"])
def test_split_by_number_has_no_number_on_both_sides(lang):
    task = number_task(lang, high=300, seed=4)
    train, test = set(task.train.items), set(task.test.items)
    assert not train & test and train | test == set(range(300))
    assert len(test) == 60
    src_rows = {tuple(r) for r in task.train.src.tolist()}
    assert not any(tuple(r) in src_rows for r in task.test.src.tolist())  # no test source seen in training


def test_split_depends_on_the_seed_only():
    a, b = split_numbers(0, 100, 0.2, 3), split_numbers(0, 100, 0.2, 3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], split_numbers(0, 100, 0.2, 4)[1])


def test_targets_are_bos_pieces_eos_and_decode_back():
    task = number_task("en", high=200, seed=0)
    row = task.train.tgt[task.train.items.index(94)].tolist()
    assert row[0] == BOS and EOS in row
    assert task.tgt_vocab.decode(row) == ["ninety", "-", "four"]
    assert task.src_vocab.decode(task.train.src[task.train.items.index(94)].tolist()) == ["9", "4"]


def test_german_puts_units_before_tens_and_pieces_join_back():
    assert word_pieces(number_words(973, "de"), "de") == ["neun", "hundert", "drei", "und", "siebzig"]
    for n in range(0, 1000, 7):
        assert "".join(word_pieces(number_words(n, "de"), "de")) == number_words(n, "de")


def test_french_and_belgian_are_two_references():
    task = number_task("fr+fr_BE", high=100, seed=0)
    rows = task.train.items + task.test.items
    refs = dict(zip(rows, task.train.references + task.test.references))
    assert refs[94] == [["quatre", "-", "vingt", "-", "quatorze"], ["nonante", "-", "quatre"]]
    chosen = {tuple(task.tgt_vocab.decode(r)) for r in task.train.tgt.tolist()}
    assert any(t[0] == "nonante" for t in chosen) and any(t[:3] == ("quatre", "-", "vingt") for t in chosen)


def test_exact_match_and_bleu():
    refs = [[["a", "b", "c", "d"]], [["x", "y"], ["z"]]]
    assert exact_match([["a", "b", "c", "d"], ["z"]], refs).tolist() == [1.0, 1.0]
    assert exact_match([["a", "b"], ["y"]], refs).tolist() == [0.0, 0.0]
    assert score_bleu([r[0] for r in refs], refs) == pytest.approx(100.0)
    assert score_bleu([["q", "r", "s", "t"], ["u"]], refs) < 1.0


def test_vocab_unknown_tokens_map_to_unk():
    vocab = Vocab(["a", "b"])
    assert vocab.encode(["a", "zz"], bos=True, eos=True) == [BOS, 4, 3, EOS]
    assert PAD == 0


@pytest.mark.parametrize("call", [lambda: number_task("xx"), lambda: number_words(3, "klingon"),
                                  lambda: split_numbers(0, 100, 1.5, 0)])
def test_bad_input_is_one_line(call):
    with pytest.raises(BadInput) as info:
        call()
    assert "\n" not in str(info.value)


def test_copy_task_names_are_unseen_and_outside_both_vocabularies():
    from mllab.data.text import copy_task

    train, test, src_vocab, tgt_vocab = copy_task(200, 50, seed=1)
    train_names = {n for row in train.names for n in row}
    test_names = {n for row in test.names for n in row}
    assert not train_names & test_names
    assert not (train_names | test_names) & (set(src_vocab.stoi) | set(tgt_vocab.stoi))
    V = len(tgt_vocab)
    for r in range(len(test.names)):
        tgt = test.tgt[r].tolist()
        names_out = [test.extended[r][t - V] for t in tgt if t >= V]
        assert names_out == test.names[r]  # every name in the target is an extended id of that row's source
        assert (test.src[r][test.src_ext[r] >= V] == UNK_ID).all()  # names are UNK for the encoder


UNK_ID = 3


def test_both_wordings_puts_each_training_number_once_per_distinct_wording():
    task = number_task("fr+fr_BE", high=100, seed=0, both_wordings=True)
    rows = [tuple(task.tgt_vocab.decode(r)) for r in task.train.tgt.tolist()]
    for n in set(task.train.items):
        mine = {rows[i] for i, m in enumerate(task.train.items) if m == n}
        refs = {tuple(r) for r in task.train.references[task.train.items.index(n)]}
        assert mine == refs  # 94: both "quatre - vingt - quatorze" and "nonante - quatre"; 12: "douze" once
    assert len(task.test) == 20 and not set(task.test.items) & set(task.train.items)


def test_mixed_wordings_counts_outputs_that_take_words_from_both():
    from mllab.data.text import mixed_wordings

    refs = [[["quatre", "-", "vingt", "-", "dix"], ["nonante"]], [["douze"], ["douze"]]]
    out = mixed_wordings([["nonante", "-", "dix"], ["douze"]], refs)
    assert out[0] == 1.0 and np.isnan(out[1])
    assert mixed_wordings([["nonante"]], refs[:1])[0] == 0.0  # a correct wording is not mixed
    assert mixed_wordings([["quatre", "-", "vingt"]], refs[:1])[0] == 0.0  # wrong, but from one wording only


def test_expand_task_targets_and_source_positions():
    from mllab.data.text import ExpandTask, expand_task

    task = expand_task(30, 10, seed=2)
    row = task.train.tgt[0].tolist()
    word = task.train.items[0]
    assert task.tgt_vocab.decode(row) == [f"{c}{k}" for c in word for k in (1, 2)]
    lengths = [len(w) for w in task.long.items]
    assert min(lengths) > max(len(w) for w in task.train.items)
    pos = ExpandTask.source_position(task.train)[0]
    assert pos[: 2 * len(word)].tolist() == [p // 2 for p in range(2 * len(word))]
    assert (pos[2 * len(word):] == -1).all()
    with pytest.raises(BadInput):
        expand_task(10, 10, max_len=12, long_min=10)


def test_tasks_take_a_derived_63_bit_seed():
    from mllab.core.seeding import derive_seed
    from mllab.data.text import copy_task, expand_task

    seed = derive_seed(2**32 - 1, "judge", 0)  # what the seq2seq experiments pass: up to 2⁶³ − 1
    a, b = (number_task("fr+fr_BE", high=100, seed=seed) for _ in range(2))
    assert a.train.items == b.train.items and a.train.tgt.tolist() == b.train.tgt.tolist()
    assert copy_task(20, 10, seed=seed)[1].names == copy_task(20, 10, seed=seed)[1].names
    assert expand_task(20, 10, seed=seed).train.items == expand_task(20, 10, seed=seed).train.items
