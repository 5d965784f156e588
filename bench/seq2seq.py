"""Seq2seq benchmarks: greedy decoding with vs without the KV cache, and training tokens/s of our Transformer vs
`nn.Transformer` at equal sizes (same embeddings, positions and tied head, same data, same `fit` loop).

- KV cache: an untrained model (D = 64, 4 heads, 2 + 2 layers) decodes exactly `steps` tokens (no EOS stop) for a
  batch of 16 sources; per-token cost is O(t) with the cache, O(t²) without. Goals: ≥ 3× at 64 tokens.
- NAT vs AT: untrained models of the same size (D = 64, 4 heads, 2 + 2 layers) produce exactly `--nat-tokens`
  output tokens: the AT by greedy steps with the KV cache, the NAT (`NATransformer`) in one parallel pass (lengths
  given); latency per sentence at batch 1 and sentences/s at batch 64, CPU seconds.
- Training: numbers -> English words, batch 32, `--train-steps` Adam updates, one torch thread; target tokens/s
  (non-pad target tokens per wall second and per CPU second). Goal ≥ 1.0× nn.Transformer.
Variants run interleaved `--repeats` times; the summary is the median. One torch thread (as the experiments).

    .venv/bin/python bench/seq2seq.py --out /tmp/bench_seq2seq.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import torch
from torch import nn

from mllab.data import TensorLoader
from mllab.data.text import number_task
from mllab.layers.positional import sinusoidal_table
from mllab.models.nat import NATransformer
from mllab.models.transformer import (
    Seq2SeqTransformer,
    count_target_tokens,
    seq2seq_loss,
)
from mllab.train import fit


@torch.no_grad()
def decode_steps(model: Seq2SeqTransformer, src: torch.Tensor, steps: int, cache: bool) -> float:
    """Wall seconds to decode exactly `steps` greedy tokens."""
    start = time.perf_counter()
    state = model.start(src, cache)
    for _ in range(steps):
        token = model.step(state).argmax(-1)
        state.prefix = torch.cat([state.prefix, token[:, None]], 1)
    return time.perf_counter() - start


@torch.no_grad()
def nat_vs_at(src: torch.Tensor, V_src: int, V_tgt: int, tokens: int, repeats: int) -> dict:
    """CPU seconds per sentence (batch 1) and sentences per CPU second (batch 64), AT vs NAT, `tokens` outputs."""
    torch.manual_seed(0)
    at = Seq2SeqTransformer(V_src, V_tgt, width=64, heads=4, layers=2, mlp_ratio=2).eval()
    nat = NATransformer(V_src, V_tgt, width=64, heads=4, layers=2, mlp_ratio=2, max_len=tokens).eval()
    decoders = {"AT": lambda s: decode_steps(at, s, tokens, True),
                "NAT": lambda s: nat.decode_parallel(s, 0, lengths=torch.full((len(s),), tokens))}
    out: dict = {}
    for batch, count in ((1, 32), (64, 4)):
        times = {k: [] for k in decoders}
        for _ in range(repeats):
            for name, run in decoders.items():
                rows = [src[i % len(src)][None] for i in range(count)] if batch == 1 else [src[:64]] * count
                cpu = time.process_time()
                for s in rows:
                    run(s)
                times[name].append((time.process_time() - cpu) / (count * (1 if batch == 1 else len(src[:64]))))
        med = {k: statistics.median(v) for k, v in times.items()}
        out[f"batch{batch}"] = {**med, "speedup": med["AT"] / med["NAT"]}
        print(f"{tokens} tokens, batch {batch}: AT {1e3 * med['AT']:.3f} CPU ms/sentence, NAT "
              f"{1e3 * med['NAT']:.3f}, NAT speed-up {med['AT'] / med['NAT']:.1f}x", flush=True)
    return out


class TorchTransformer(nn.Module):
    """nn.Transformer (Pre-LN, ReLU, no dropout) with our embeddings, sinusoids and tied head: same sizes."""

    def __init__(self, src_vocab: int, tgt_vocab: int, width: int = 64, heads: int = 4, layers: int = 2):
        super().__init__()
        self.width, self.label_smoothing = width, 0.0
        self.src_embed, self.tgt_embed = nn.Embedding(src_vocab, width), nn.Embedding(tgt_vocab, width)
        self.core = nn.Transformer(width, heads, layers, layers, 2 * width, dropout=0.0, batch_first=True,
                                   norm_first=True)
        self.out = nn.Linear(width, tgt_vocab, bias=False)
        self.out.weight = self.tgt_embed.weight

    def forward(self, src, tgt_in):
        pos = lambda x: x * math.sqrt(self.width) + sinusoidal_table(x.shape[1], self.width)
        n = tgt_in.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(n)
        h = self.core(pos(self.src_embed(src)), pos(self.tgt_embed(tgt_in)), tgt_mask=mask, tgt_is_causal=True,
                      src_key_padding_mask=src == 0, memory_key_padding_mask=src == 0,
                      tgt_key_padding_mask=tgt_in == 0)
        return self.out(h)


def train_rate(make, task, steps: int) -> tuple[float, float]:
    """(target tokens per wall second, per CPU second) over `steps` updates."""
    torch.manual_seed(0)
    model = make()
    loader = TensorLoader((task.train.src, task.train.tgt), 32, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    tokens = sum(count_target_tokens(b) for b, _ in zip(loader.batches(0), range(steps)))
    wall, cpu = time.perf_counter(), time.process_time()
    fit(model, seq2seq_loss, loader, optimizer, epochs=10**6, max_steps=steps, count_items=count_target_tokens)
    return tokens / (time.perf_counter() - wall), tokens / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=25)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--nat-tokens", type=int, default=10)
    parser.add_argument("--only-nat", action="store_true", help="run only the NAT vs AT rows")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = number_task("en", seed=0)
    V_src, V_tgt = len(task.src_vocab), len(task.tgt_vocab)
    torch.manual_seed(0)
    model = Seq2SeqTransformer(V_src, V_tgt, width=64, heads=4, layers=2, mlp_ratio=2).eval()
    src = task.test.src[:16]
    results: dict = {"decode": {}, "train": {}}
    results["nat_vs_at"] = nat_vs_at(task.test.src[:64], V_src, V_tgt, args.nat_tokens, args.repeats)
    if args.only_nat:
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=2)
        return
    for steps in args.lengths:
        times = {"cache": [], "recompute": []}
        for _ in range(args.repeats):
            times["cache"].append(decode_steps(model, src, steps, True))
            times["recompute"].append(decode_steps(model, src, steps, False))
        med = {k: statistics.median(v) for k, v in times.items()}
        results["decode"][steps] = {**med, "speedup": med["recompute"] / med["cache"]}
        print(f"greedy {steps} tokens, batch 16: cache {med['cache']:.3f}s, recompute {med['recompute']:.3f}s, "
              f"speedup {med['recompute'] / med['cache']:.1f}x", flush=True)
    makers = {"ours": lambda: Seq2SeqTransformer(V_src, V_tgt, width=64, heads=4, layers=2, mlp_ratio=2),
              "nn.Transformer": lambda: TorchTransformer(V_src, V_tgt)}
    rates = {k: [] for k in makers}
    for _ in range(args.repeats):
        for name, make in makers.items():
            rates[name].append(train_rate(make, task, args.train_steps))
    for name in makers:
        wall = statistics.median(r[0] for r in rates[name])
        cpu = statistics.median(r[1] for r in rates[name])
        results["train"][name] = {"tokens_per_wall_s": wall, "tokens_per_cpu_s": cpu}
        print(f"train {name}: {wall:.0f} target tokens/s wall, {cpu:.0f} per CPU second", flush=True)
    ratio = results["train"]["ours"]["tokens_per_cpu_s"] / results["train"]["nn.Transformer"]["tokens_per_cpu_s"]
    results["train"]["ratio_cpu"] = ratio
    print(f"ours / nn.Transformer (CPU time): {ratio:.2f}x")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
