"""seq2seq-translation: a Transformer trained with teacher forcing writes numbers it never saw in words.

Task (`number_task`): the digits of n ∈ [0, 1000) -> its num2words wording in en, fr, de, split **by number**
(80 % train, 20 % test): every test number is unseen. One model per language and seed: Pre-LN, D = 64,
4 heads, 2 + 2 layers, Adam (β = 0.9, 0.98) at 3e-3, batch 32, `epochs` (set on tuning split seed 1000 with init
seed 0, before the judged seeds moved to derive_seed; judged seeds derive_seed(seed, "judge", k) draw both the split
and the initialisation, the same split for every language). Decoding: greedy, KV cache.
Scores on the unseen numbers: exact match (token for token) and corpus BLEU (sacrebleu, 13a, pieces joined by
spaces); thresholds fixed before the first judged run.

Cross-attention maps (last decoder layer, mean over heads) for one unseen number: monotonic for en, crossed for
de, whose units come before the tens ("drei und siebzig"). The `alignment_*` metrics give, over unseen numbers
with tens ≥ 2 and units ≥ 1, the fraction whose tens word attends more to the tens digit than to the units digit
and whose units word does the opposite (measured, not judged).

Exposure bias. Teacher forcing trains on gold prefixes; at test time the model eats its own outputs. Measured per
output position t: the error rate under teacher forcing vs free running, and the probe "errors propagate": force
the gold prefix y_<t then the most likely *wrong* token at t, decode greedily, and ask whether the rest still
equals the gold y_>t; the reference forces the correct y_t instead. Claim: the rest is wrong more often after
a forced error, by more than `propagation_margin` (paired over language × seed).
Negative control: `blind_source=true` replaces every source digit by one token, so the decoder cannot know
the number: exact match and BLEU on unseen numbers collapse.

Under torchrun (`torchrun --nproc_per_node N -m mllab run seq2seq-translation --profile full`) each model trains with
DDP: batch_size is the global batch, split over the ranks, and fit divides by the target tokens of all ranks, so each
step's gradient is the one-process gradient of the same batch (to float rounding) when the training numbers are a
multiple of N. Decoding and the exposure probes run on each rank's share of the unseen numbers; the hypotheses are
gathered and the error counts summed over ranks, so every rank scores all of them. `train_samples_per_second`
(sentences) and `train_tokens_per_second` (target tokens) are the global training throughput.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, nonempty, positive
from mllab.core.errors import BadInput
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.data.text import (
    PAD,
    TextPairs,
    check_language,
    exact_match,
    number_task,
    score_bleu,
)
from mllab.experiments.seq2seq.common import mean_se, train_seq2seq, translate
from mllab.models.transformer import EOS, Seq2SeqTransformer, count_target_tokens
from mllab.train.distributed import TrainClock

LANGS = ("en", "fr", "de")


@dataclass
class TranslationConfig(Config):
    languages: tuple[str, ...] = LANGS
    """target languages (en, fr, fr_BE, de); one model per language and seed"""
    high: int = 1000
    """numbers 0 … high−1"""
    test_fraction: float = 0.2
    """fraction of the numbers held out (never seen in training)"""
    epochs: int = 15
    """training epochs (teacher forcing)"""
    lr: float = 3e-3
    """Adam learning rate"""
    batch_size: int = 32
    """sentences per batch (the global batch under torchrun: split over the ranks)"""
    width: int = 64
    """model width D (4 heads, 2 encoder + 2 decoder layers, MLP 2·D)"""
    beam_size: int = 1
    """beam width of the judged decoding (1: greedy)"""
    max_len: int = 16
    """most output tokens decoded"""
    blind_source: bool = False
    """replace every source digit by one token (the negative control: nothing to translate from)"""
    min_exact_match: float = 0.8
    """the claim: exact match on unseen numbers at least this, in every language (mean over seeds)"""
    min_bleu: float = 80.0
    """the claim: corpus BLEU on unseen numbers at least this, in every language (mean over seeds)"""
    propagation_margin: float = 0.1
    """the claim: a forced error at t makes the rest wrong more often than the correct token, by more than this"""
    seeds: int = 2
    """judged seeds per language"""

    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"languages": ("en", "de"), "high": 120, "epochs": 2, "seeds": 1},
        "full": {"high": 10000, "epochs": 20, "seeds": 3, "width": 128},
    }
    rules: ClassVar[dict] = {"languages": nonempty, "high": at_least(20), "test_fraction": in_range(0, 1, closed=False),
                             "epochs": at_least(1), "lr": positive, "batch_size": at_least(1), "width": at_least(4),
                             "beam_size": at_least(1), "max_len": at_least(1), "min_exact_match": in_range(0, 1),
                             "min_bleu": in_range(0, 100), "propagation_margin": in_range(-1, 1), "seeds": at_least(1)}

    def validate(self) -> None:
        super().validate()
        for lang in self.languages:
            if lang == "fr+fr_BE":
                raise BadInput("--set languages: 'fr+fr_BE' has two answers per input; use it in at-vs-nat")
            check_language(lang)
        if self.width % 4:
            raise BadInput(f"--set width: must be a multiple of the 4 heads, got {self.width}")


@experiment("seq2seq-translation", section="seq2seq",
            claim="A Transformer trained with teacher forcing writes numbers it never saw in words: on unseen numbers "
                  "exact match ≥ {min_exact_match:.0%} and BLEU ≥ {min_bleu:g} in every language; and errors "
                  "propagate: after a forced wrong token the rest of the output is wrong more often than after "
                  "the correct one (by more than {propagation_margin:.0%}).",
            negative_control=NegativeControl(
                overrides=("blind_source=true", "high=300", "epochs=4"),
                fails=("exact match on unseen numbers", "BLEU on unseen numbers"),
                why="the encoder sees one token for every number, so no output can depend on the number"),
            distributed=True)
def translation(run: Run, cfg: TranslationConfig) -> None:
    """Exact match and BLEU on unseen numbers per language, cross-attention maps, exposure-bias probes."""
    results = {lang: {"em": [], "bleu": [], "tf": [], "free": [], "forced": [], "correct": [], "align": []}
               for lang in cfg.languages}
    maps = {}
    clock, tokens = TrainClock(run.device), 0
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    for lang in run.progress(cfg.languages, desc="languages"):
        for k in range(cfg.seeds):
            seed = derive_seed(run.seed, "judge", k)
            task = number_task(lang, high=cfg.high, test_fraction=cfg.test_fraction, seed=seed)
            if cfg.blind_source:
                for pairs in (task.train, task.test):
                    pairs.src.masked_fill_(pairs.src != PAD, 3 + 0)  # every digit -> the same id
            task = dataclasses.replace(task, train=_to(task.train, run.device), test=_to(task.test, run.device))
            torch.manual_seed(seed)
            model = Seq2SeqTransformer(len(task.src_vocab), len(task.tgt_vocab), width=cfg.width, heads=4, layers=2,
                                       mlp_ratio=2).to(run.device)
            with clock:
                train_seq2seq(run.distribute(model), task.train, epochs=cfg.epochs, lr=cfg.lr,
                              batch_size=cfg.batch_size, seed=seed, rank=run.rank, world_size=run.world_size,
                              on_device_counts=True)  # no host read per step
            clock.samples += cfg.epochs * len(task.train)  # global: every rank's share
            tokens += cfg.epochs * count_target_tokens((task.train.src, task.train.tgt))
            model.eval()
            mine = _shard(task.test, run.rank, run.world_size)  # this rank's unseen numbers
            hyps = _unshard(run.all_gather(translate(model, task, mine, cfg.max_len, cfg.beam_size)))
            em = float(exact_match(hyps, task.test.references).mean())
            bleu = score_bleu(hyps, task.test.references)
            r = results[lang]
            r["em"].append(em)
            r["bleu"].append(bleu)
            counts = run.all_reduce_sum(exposure_counts(model, mine, cfg.max_len))  # (4, 2, T): Σ over ranks
            tf, free, forced, correct = (_rate(*c) for c in counts)
            r["tf"].append(tf)
            r["free"].append(free)
            r["forced"].append(forced)
            r["correct"].append(correct)
            r["align"].append(alignment(model, task, lang))
            if k == 0:
                maps[lang] = example_map(model, task)
    run.metric("seconds_wall", time.perf_counter() - start_wall)
    run.metric("seconds_cpu", time.process_time() - start_cpu)
    run.metric("train_samples", clock.samples)  # sentences, every rank's
    run.metric("train_seconds", clock.seconds)
    run.metric("train_samples_per_second", clock.rate())
    run.metric("train_tokens_per_second", tokens / clock.seconds if clock.seconds > 0 else 0.0)
    forced_all, correct_all = [], []
    for lang, r in results.items():
        run.metric(f"exact_match_{lang}", r["em"])
        run.metric(f"bleu_{lang}", r["bleu"])
        run.metric(f"alignment_{lang}", r["align"])
        run.metric(f"suffix_error_after_forced_error_{lang}", [float(np.nanmean(f)) for f in r["forced"]])
        run.metric(f"suffix_error_after_correct_token_{lang}", [float(np.nanmean(c)) for c in r["correct"]])
        forced_all += [float(np.nanmean(f)) for f in r["forced"]]
        correct_all += [float(np.nanmean(c)) for c in r["correct"]]
    em = {lang: np.mean(r["em"]) for lang, r in results.items()}
    bleu = {lang: np.mean(r["bleu"]) for lang, r in results.items()}
    run.check("exact match on unseen numbers", all(v >= cfg.min_exact_match for v in em.values()),
              observed=", ".join(f"{lang} {v:.3f}" for lang, v in em.items()) + f" (mean of {cfg.seeds} seeds)",
              expected=f">= {cfg.min_exact_match:.2f} in every language")
    run.check("BLEU on unseen numbers", all(v >= cfg.min_bleu for v in bleu.values()),
              observed=", ".join(f"{lang} {v:.1f}" for lang, v in bleu.items()) + f" (mean of {cfg.seeds} seeds)",
              expected=f">= {cfg.min_bleu:g} in every language")
    run.compare("errors propagate", forced_all, correct_all, margin=cfg.propagation_margin, better="higher",
                labels=("after a forced error", "after the correct token"))
    _figure(run, cfg, results, maps, em)


def _to(pairs: TextPairs, device: torch.device) -> TextPairs:
    return dataclasses.replace(pairs, src=pairs.src.to(device), tgt=pairs.tgt.to(device))


def _shard(pairs: TextPairs, rank: int, world_size: int) -> TextPairs:
    """Every world_size-th row from `rank` on (all rows in one process)."""
    rows = slice(rank, None, world_size)
    return TextPairs(pairs.src[rows], pairs.tgt[rows], pairs.items[rows], pairs.references[rows])


def _unshard(parts: list[list[Any]]) -> list[Any]:
    """The ranks' `_shard` results back in row order: row i is row i // world_size of rank i % world_size."""
    out: list[Any] = [None] * sum(len(p) for p in parts)
    for rank, part in enumerate(parts):
        out[rank::len(parts)] = part
    return out


def _rate(wrong: torch.Tensor, total: torch.Tensor) -> np.ndarray:
    """wrong / total per position, nan where total is 0 (no row has that position)."""
    return (wrong / total.clamp(min=1)).masked_fill(total == 0, float("nan")).numpy()


@torch.no_grad()
def exposure(model: Seq2SeqTransformer, pairs: TextPairs, max_len: int):
    """Per output position t (nan where a row has no token t):
    tf (T,) error rate under teacher forcing; free (T,) under free running (greedy);
    forced (T,) / correct (T,): P(the rest ≠ gold y_>t) after forcing y_<t and then a wrong / the gold token."""
    return tuple(_rate(*c) for c in exposure_counts(model, pairs, max_len).double())


@torch.no_grad()
def exposure_counts(model: Seq2SeqTransformer, pairs: TextPairs, max_len: int) -> torch.Tensor:
    """`exposure`'s rates as counts, (4, 2, T) float64 on the CPU: for tf, free, forced, correct, per position t,
    [rows wrong, rows counted]; counts of row shards add up to the counts of all rows."""
    model.eval()
    gold = pairs.tgt[:, 1:]  # y¹ … EOS PAD…, (N, T)
    T = gold.shape[1]
    valid = gold != PAD
    logits = model(pairs.src, pairs.tgt[:, :-1])  # teacher forcing, (N, T, V)
    top2 = logits.topk(2, -1).indices  # (N, T, 2)
    tf_wrong = (top2[..., 0] != gold) & valid
    free, _ = model.greedy(pairs.src, max_len)
    free = torch.nn.functional.pad(free, (0, max(0, T - free.shape[1])), value=PAD)[:, :T]
    free_wrong = (free != gold) & valid
    wrong_token = torch.where(top2[..., 0] == gold, top2[..., 1], top2[..., 0])  # the most likely wrong token
    forced = torch.zeros(2, T, dtype=torch.float64)  # [rows whose rest is wrong, rows with a rest] per position
    correct = torch.zeros(2, T, dtype=torch.float64)
    lengths = valid.sum(1)
    for t in range(T - 1):
        rows = lengths > t + 1  # a rest after position t exists (at least EOS)
        if not rows.any():
            break
        for out, token in ((forced, wrong_token[:, t]), (correct, gold[:, t])):
            prefix = torch.cat([gold[rows, :t], token[rows, None]], 1)
            prefix = prefix.masked_fill(prefix == EOS, 3)  # a forced EOS would end the output: use UNK instead
            tokens, _ = model.greedy(pairs.src[rows], max_len, prefix=prefix)
            rest = torch.nn.functional.pad(tokens, (0, max(0, T - tokens.shape[1])), value=PAD)[:, t + 1:T]
            out[0, t] = float((rest != gold[rows, t + 1:]).any(1).sum())
            out[1, t] = float(rows.sum())
    count = lambda wrong: torch.stack([wrong.sum(0), valid.sum(0)]).double().cpu()  # (2, T)
    return torch.stack([count(tf_wrong), count(free_wrong), forced, correct])


def _tail_rows(task) -> list[int]:
    """Unseen numbers whose last two digits have tens ≥ 2 and units ≥ 1 (the ones en and de order differently)."""
    return [i for i, n in enumerate(task.test.items) if (n % 100) // 10 >= 2 and n % 10 >= 1]


@torch.no_grad()
def alignment(model: Seq2SeqTransformer, task, lang: str) -> float:
    """Fraction of `_tail_rows` whose tens word attends more to the tens digit than to the units digit and whose
    units word does the opposite (last decoder layer, mean over heads); nan for languages other than en, de."""
    if lang not in ("en", "de"):
        return float("nan")
    rows = _tail_rows(task)
    if not rows:
        return float("nan")
    src, tgt = task.test.src[rows], task.test.tgt[rows]
    attn = model.cross_attention(src, tgt[:, :-1])[-1].mean(1)  # (R, n, m): query p predicts y_p
    hits = []
    for r in range(len(rows)):
        words = task.tgt_vocab.decode(tgt[r].tolist())
        m = int((src[r] != PAD).sum())
        if lang == "de":  # … units und tens
            units_at = words.index("und") - 1
            tens_at = units_at + 2
        else:  # … tens - units
            tens_at = len(words) - 3
            units_at = len(words) - 1
        tens_digit, units_digit = m - 2, m - 1
        a = attn[r]
        hits.append(bool(a[tens_at, tens_digit] > a[tens_at, units_digit]) and
                    bool(a[units_at, units_digit] > a[units_at, tens_digit]))
    return float(np.mean(hits))


@torch.no_grad()
def example_map(model: Seq2SeqTransformer, task) -> dict[str, Any]:
    """The cross-attention map of one unseen 3-digit number (the first of `_tail_rows` ≥ 100)."""
    rows = [i for i in _tail_rows(task) if task.test.items[i] >= 100] or [0]
    i = rows[0]
    src, tgt = task.test.src[i:i + 1], task.test.tgt[i:i + 1]
    attn = model.cross_attention(src, tgt[:, :-1])[-1].mean(1)[0]  # (n, m)
    words = task.tgt_vocab.decode(tgt[0].tolist()) + ["<eos>"]
    m = int((src != PAD).sum())
    return {"number": task.test.items[i], "map": attn[: len(words), :m].cpu().numpy(),
            "digits": list(str(task.test.items[i])), "words": words}


def _nanmean(rows: list[np.ndarray]) -> np.ndarray:
    """Mean over seeds per position, ignoring NaN (positions no row reaches stay NaN, silently)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(rows), axis=0)


def _figure(run: Run, cfg: TranslationConfig, results, maps, em) -> None:
    langs = list(results)
    fig, axes = figures.subplots(2, max(3, len(langs)), panel=(4.0, 3.4))
    for j, lang in enumerate(langs):
        ax = axes[j]
        if lang in maps:
            e = maps[lang]
            ax.imshow(e["map"], aspect="auto", cmap="viridis", vmin=0, vmax=1)
            ax.set_xticks(range(len(e["digits"])), e["digits"])
            ax.set_yticks(range(len(e["words"])), e["words"], fontsize=7)
        ax.set(title=f"{lang}: cross-attention $\\alpha'$ ({maps.get(lang, {}).get('number', '')})",
               xlabel="source digit", ylabel="output word (predicted)")
        ax.grid(False)
    for ax in axes[len(langs):3]:
        fig.delaxes(ax)
    row = axes[max(3, len(langs)):]
    ax = row[0]
    means = [mean_se(results[lang]["em"]) for lang in langs]
    colors = [figures.verdict_color(em[lang] >= cfg.min_exact_match) for lang in langs]
    ax.bar(langs, [m for m, _ in means], yerr=[s for _, s in means], color=colors, capsize=3)
    ax.axhline(cfg.min_exact_match, color=figures.BASELINE, ls=":", label=f"threshold {cfg.min_exact_match:.0%}")
    ax.set(title="exact match on unseen numbers", xlabel="target language", ylabel="exact match (fraction)",
           ylim=(0, 1.05))
    figures.legend_outside(ax)
    ax = row[1]
    for j, lang in enumerate(langs):
        tf, free = _nanmean(results[lang]["tf"]), _nanmean(results[lang]["free"])
        ax.plot(range(1, len(tf) + 1), tf, color=figures.SERIES[j], ls="--", marker=".", label=f"{lang} teacher-forced")
        ax.plot(range(1, len(free) + 1), free, color=figures.SERIES[j], marker="o", ms=3, label=f"{lang} free-running")
    ax.set(title="error rate by output position", xlabel="output position $t$", ylabel="error rate (fraction)")
    figures.legend_outside(ax)
    ax = row[2]
    for j, lang in enumerate(langs):
        forced, correct = _nanmean(results[lang]["forced"]), _nanmean(results[lang]["correct"])
        ax.plot(range(1, len(forced) + 1), forced, color=figures.SERIES[j], marker="o", ms=3,
                label=f"{lang} forced error")
        ax.plot(range(1, len(correct) + 1), correct, color=figures.SERIES[j], ls="--", label=f"{lang} correct token")
    ax.set(title="is the rest wrong after position $t$?", xlabel="forced position $t$",
           ylabel="P(rest ≠ gold) (fraction)", ylim=(-0.02, 1.02))
    figures.legend_outside(ax)
    run.figure("translation", fig)
