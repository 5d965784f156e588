"""Section "attention": self-attention from the formulas, positional encoding, truncated attention, CNN and RNN compared.

- attention-context: a window network sees only its neighbours; self-attention considers the whole sequence.
- positional-encoding: self-attention ignores order unless a positional vector (or bias) is added.
- truncated-attention: attention limited to ±w loses nothing on local tasks and costs O(n·w), not O(n²).
- attention-vs-rnn: a GRU needs n sequential steps; self-attention processes the sequence in parallel.
"""
