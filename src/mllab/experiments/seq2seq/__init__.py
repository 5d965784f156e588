"""Section "seq2seq": the Transformer encoder-decoder trained with teacher forcing, and what decoding does with it.

- seq2seq-translation: digits -> words (en, fr, de) for numbers never seen in training; cross-attention
  maps; exposure bias (a forced error at position t and what follows it).
- transformer-warmup: Post-LN at a high peak learning rate needs warm-up; Pre-LN trains without it.
- copy-mechanism: a pointer-generator copies names never seen in training; without copy they cannot be emitted.
"""
