"""Text tasks for seq2seq, generated offline and deterministically from a seed, and their tokenisers.

- `number_task(lang)`: digits -> words with `num2words` ("94" -> "quatre-vingt-quatorze"). Languages
  en, fr, fr_BE, de, and "fr+fr_BE": each number's target is its French or Belgian French wording at random
  (two correct answers per input: "quatre-vingt-quatorze" / "nonante-quatre"). Train and test are split
  **by number**, so no test number is ever seen in training.
- Target tokenisation (`word_pieces`): words split at spaces, hyphens kept as tokens ("vingt - trois");
  German compounds cut into their number morphemes by greedy longest match ("dreiundzwanzig" ->
  "drei und zwanzig"): German says the units before the tens, so its alignment to the digits is not monotonic.
- `score_bleu` / `exact_match`: corpus BLEU via sacrebleu (its default 13a tokenizer, on the pieces joined by
  spaces) and the fraction of outputs equal to the reference, token for token.

Token ids: PAD = 0, BOS = 1, EOS = 2, UNK = 3 (`Vocab`), as `mllab.models.transformer` expects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mllab.core.errors import BadInput
from mllab.core.seeding import derive_seed

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
LANGUAGES = ("en", "fr", "fr_BE", "de", "fr+fr_BE")

_DE_UNITS = ("eins", "ein", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "null")
_DE_TEENS = ("zehn", "elf", "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn", "achtzehn",
             "neunzehn")
_DE_TENS = ("zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig", "achtzig", "neunzig")
DE_MORPHEMES = tuple(sorted(_DE_UNITS + _DE_TEENS + _DE_TENS + ("und", "hundert", "tausend"), key=len, reverse=True))


class Vocab:
    """Token strings <-> ids; ids 0..3 are PAD, BOS, EOS, UNK. Built from token lists in first-seen order."""

    def __init__(self, tokens: list[str]):
        self.itos = list(SPECIALS) + [t for t in dict.fromkeys(tokens) if t not in SPECIALS]
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(cls, sequences: list[list[str]]) -> Vocab:
        return cls([t for seq in sequences for t in seq])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: list[str], *, bos: bool = False, eos: bool = False) -> list[int]:
        ids = [self.stoi.get(t, UNK) for t in tokens]
        return ([BOS] if bos else []) + ids + ([EOS] if eos else [])

    def decode(self, ids: list[int]) -> list[str]:
        return [self.itos[i] for i in ids if i not in (PAD, BOS, EOS)]


def check_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise BadInput(f"language: unknown {lang!r}; choose one of {', '.join(LANGUAGES)}")


def number_words(number: int, lang: str) -> str:
    """num2words' wording of `number` in `lang` (en, fr, fr_BE, de)."""
    from num2words import num2words

    check_language(lang)
    if lang == "fr+fr_BE":
        raise BadInput("number_words: 'fr+fr_BE' is a task (two wordings), not a language; ask 'fr' or 'fr_BE'")
    return num2words(number, lang=lang)


def _split_german(word: str) -> list[str]:
    pieces, i = [], 0
    while i < len(word):
        match = next((m for m in DE_MORPHEMES if word.startswith(m, i)), None)
        if match is None:
            raise ValueError(f"German number word {word!r}: no morpheme at {word[i:]!r}")
        pieces.append(match)
        i += len(match)
    return pieces


def word_pieces(text: str, lang: str) -> list[str]:
    """A number's wording -> target tokens: words, hyphens and commas as tokens; German compounds by morpheme."""
    pieces = []
    for word in text.replace(",", " , ").split():
        parts = word.split("-")
        for j, part in enumerate(parts):
            if j:
                pieces.append("-")
            pieces.extend(_split_german(part) if lang == "de" else [part])
    return pieces


def digits(number: int) -> list[str]:
    return list(str(number))


@dataclass
class TextPairs:
    """A seq2seq split: src (N, m) and tgt (N, n) int64 (tgt = BOS y … EOS, PAD-filled), with the raw items."""

    src: torch.Tensor
    tgt: torch.Tensor
    items: list  # what each row came from (the number, the name …)
    references: list[list[list[str]]]  # per row, every correct target as token strings (one, or two for fr+fr_BE)

    def __len__(self) -> int:
        return len(self.src)


@dataclass
class TextTask:
    train: TextPairs
    test: TextPairs
    src_vocab: Vocab
    tgt_vocab: Vocab
    name: str


def pad_rows(rows: list[list[int]]) -> torch.Tensor:
    """Ragged id lists -> (N, max_len) int64, PAD-filled."""
    out = torch.full((len(rows), max(len(r) for r in rows)), PAD, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def split_numbers(low: int, high: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The numbers low … high−1 shuffled with `seed` and cut: (train, test), disjoint, sorted."""
    if not 0 < test_fraction < 1:
        raise BadInput(f"test_fraction: must be in (0, 1), got {test_fraction}")
    if high - low < 2:
        raise BadInput(f"number range: need at least 2 numbers, got [{low}, {high})")
    numbers = np.random.default_rng(seed).permutation(np.arange(low, high))
    n_test = max(1, round(test_fraction * len(numbers)))
    return np.sort(numbers[n_test:]), np.sort(numbers[:n_test])


def number_task(lang: str, *, low: int = 0, high: int = 1000, test_fraction: float = 0.2, seed: int = 0,
                both_wordings: bool = False) -> TextTask:
    """Digits -> words for the numbers low … high−1, split by number. For "fr+fr_BE" each number's target
    is drawn (with `derive_seed(seed, "wording")`, a stream apart from the split's) between its fr and fr_BE
    wording, and both are its references.
    both_wordings: training holds one row per distinct wording of each number (fr+fr_BE: numbers whose fr and
    fr_BE wordings differ appear twice, once each), so the training data itself has two answers per input."""
    check_language(lang)
    train_numbers, test_numbers = split_numbers(low, high, test_fraction, seed)
    rng = np.random.default_rng(derive_seed(seed, "wording"))  # not seed + 1: the split stream of seed + 1
    langs = ("fr", "fr_BE") if lang == "fr+fr_BE" else (lang,)
    wordings = {n: [word_pieces(number_words(int(n), l), "de" if l == "de" else l) for l in langs]
                for n in range(low, high)}
    choice = {n: int(rng.integers(len(langs))) for n in range(low, high)}
    src_vocab = Vocab([str(d) for d in range(10)])
    tgt_vocab = Vocab.build([w for n in train_numbers for w in wordings[n]])

    def pairs(numbers: np.ndarray, every_wording: bool = False) -> TextPairs:
        rows = [(int(n), w) for n in numbers
                for w in ([list(x) for x in dict.fromkeys(map(tuple, wordings[n]))] if every_wording
                          else [wordings[n][choice[n]]])]
        src = pad_rows([src_vocab.encode(digits(n)) for n, _ in rows])
        tgt = pad_rows([tgt_vocab.encode(w, bos=True, eos=True) for _, w in rows])
        return TextPairs(src, tgt, [n for n, _ in rows], [wordings[n] for n, _ in rows])

    return TextTask(pairs(train_numbers, both_wordings), pairs(test_numbers), src_vocab, tgt_vocab, f"numbers→{lang}")


def exact_match(hypotheses: list[list[str]], references: list[list[list[str]]]) -> np.ndarray:
    """(N,) 1.0 where a hypothesis equals one of its references, token for token."""
    return np.array([float(any(h == r for r in refs)) for h, refs in zip(hypotheses, references)])


def score_bleu(hypotheses: list[list[str]], references: list[list[list[str]]]) -> float:
    """Corpus BLEU (sacrebleu, default 13a tokenizer) of token lists joined by spaces; the first reference each."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu([" ".join(h) for h in hypotheses],
                                       [[" ".join(refs[0]) for refs in references]]).score)


# ----------------------------------------------------------------------------------- copy task (pointer)

SYLLABLES = ("ka", "lo", "mi", "ra", "to", "ne", "su", "vi", "do", "pe", "zu", "ba", "fi", "go", "ri", "xa")
COPY_TEMPLATES = (  # (source words, target words); {0}, {1} are names
    ("my name is {0}", "nice to meet you {0}"),
    ("hello , i am {0}", "nice to meet you {0}"),
    ("call me {0} please", "nice to meet you {0}"),
    ("i am {0} and this is {1}", "nice to meet you {0} and {1}"),
    ("we are {0} and {1}", "nice to meet you {0} and {1}"),
)


@dataclass
class CopyTask:
    """The copy task. src (N, m) ids in `src_vocab` (names are UNK there); src_ext (N, m): each source token's id in
    the target's extended vocabulary (names: V + j); tgt (N, n): BOS … EOS in extended ids. names: per row."""

    src: torch.Tensor
    src_ext: torch.Tensor
    tgt: torch.Tensor
    names: list[list[str]]
    extended: list[list[str]]  # per row, the words of its extended ids V, V+1, …


def make_names(count: int, rng: np.random.Generator, exclude: set[str] = frozenset()) -> list[str]:
    """`count` distinct names of 2–3 random syllables, none in `exclude`."""
    names: list[str] = []
    while len(names) < count:
        name = "".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4))))
        if name not in exclude and name not in names:
            names.append(name)
    return names


def copy_task(train_size: int, test_size: int, *, seed: int = 0) -> tuple[CopyTask, CopyTask, Vocab, Vocab]:
    """"my name is ⟨name⟩" -> "nice to meet you ⟨name⟩" (5 templates, 1 or 2 names). Train and test names are
    disjoint, and no name is in either vocabulary (built from the templates' words): every name must be copied.
    Returns (train, test, src_vocab, tgt_vocab)."""
    if train_size < 1 or test_size < 1:
        raise BadInput(f"copy task sizes: need >= 1 train and test sentences, got {train_size}, {test_size}")
    rng = np.random.default_rng(seed)
    train_names = make_names(max(8, train_size // 2), rng)
    test_names = make_names(max(8, test_size // 2), rng, exclude=set(train_names))
    words = [w for s, t in COPY_TEMPLATES for w in (s + " " + t).split() if not w.startswith("{")]
    src_vocab, tgt_vocab = Vocab(words), Vocab(words)

    def build(size: int, pool: list[str]) -> CopyTask:
        rows = []
        for _ in range(size):
            source, target = COPY_TEMPLATES[int(rng.integers(len(COPY_TEMPLATES)))]
            names = list(rng.choice(pool, size=2, replace=False))
            src_words, tgt_words = source.format(*names).split(), target.format(*names).split()
            used = names[: 2 if "{1}" in source else 1]
            extended = list(dict.fromkeys(w for w in src_words if w not in tgt_vocab.stoi))
            ext_id = {w: len(tgt_vocab) + j for j, w in enumerate(extended)}
            rows.append((src_vocab.encode(src_words), [tgt_vocab.stoi.get(w, ext_id.get(w)) for w in src_words],
                         [BOS] + [tgt_vocab.stoi.get(w, ext_id.get(w, UNK)) for w in tgt_words] + [EOS], used, extended))
        src, src_ext, tgt, names, extended = zip(*rows)
        return CopyTask(pad_rows(list(src)), pad_rows(list(src_ext)), pad_rows(list(tgt)), list(names), list(extended))

    return build(train_size, train_names), build(test_size, test_names), src_vocab, tgt_vocab


def mixed_wordings(hypotheses: list[list[str]], references: list[list[list[str]]]) -> np.ndarray:
    """(N,) 1.0 where a hypothesis mixes two references: it equals neither, yet holds a token that only the first
    uses and a token that only the second uses ("quatre - vingt - nonante"); nan where a row has fewer than two
    distinct references (nothing to mix)."""
    out = np.full(len(hypotheses), np.nan)
    for i, (h, refs) in enumerate(zip(hypotheses, references)):
        if len(refs) < 2 or refs[0] == refs[1]:
            continue
        first, second, words = set(refs[0]), set(refs[1]), set(h)
        out[i] = float(h not in refs and bool(words & (first - second)) and bool(words & (second - first)))
    return out


# ------------------------------------------------------------------------------ expansion task (guided attention)

@dataclass
class ExpandTask:
    """Monotonic alignment with two target tokens per source token: "c a" -> "c1 c2 a1 a2". train / test hold
    sources of `min_len` … `max_len` symbols, `long` sources longer than any in training."""

    train: TextPairs
    test: TextPairs
    long: TextPairs
    src_vocab: Vocab
    tgt_vocab: Vocab

    @staticmethod
    def source_position(pairs: TextPairs) -> torch.Tensor:
        """(N, n): for decoder position p (predicting target token p) the source position it copies, p // 2;
        −1 at EOS and padding."""
        n = pairs.tgt.shape[1] - 1
        p = torch.arange(n)[None, :]
        lengths = (pairs.src != PAD).sum(1, keepdim=True)
        return torch.where(p < 2 * lengths, p // 2, -1)


def expand_task(train_size: int, test_size: int, *, min_len: int = 2, max_len: int = 8, long_min: int = 10,
                long_max: int = 12, symbols: int = 10, seed: int = 0) -> ExpandTask:
    """Random strings over `symbols` letters (lengths uniform in [min_len, max_len]; `long`: [long_min, long_max]),
    each letter written as two target tokens, drawn with `seed`."""
    if not 1 <= min_len <= max_len < long_min <= long_max:
        raise BadInput(f"expand_task lengths: need 1 <= min_len <= max_len < long_min <= long_max, got {min_len}, "
                       f"{max_len}, {long_min}, {long_max}")
    if train_size < 1 or test_size < 1 or not 2 <= symbols <= 26:
        raise BadInput(f"expand_task: need sizes >= 1 and 2 <= symbols <= 26, got {train_size}, {test_size}, {symbols}")
    rng = np.random.default_rng(seed)
    letters = [chr(ord("a") + i) for i in range(symbols)]
    src_vocab = Vocab(letters)
    tgt_vocab = Vocab([f"{c}{k}" for c in letters for k in (1, 2)])

    def pairs(size: int, low: int, high: int) -> TextPairs:
        words = [list(rng.choice(letters, size=int(rng.integers(low, high + 1)))) for _ in range(size)]
        targets = [[f"{c}{k}" for c in w for k in (1, 2)] for w in words]
        return TextPairs(pad_rows([src_vocab.encode(w) for w in words]),
                         pad_rows([tgt_vocab.encode(t, bos=True, eos=True) for t in targets]),
                         ["".join(w) for w in words], [[t] for t in targets])

    return ExpandTask(pairs(train_size, min_len, max_len), pairs(test_size, min_len, max_len),
                      pairs(test_size, long_min, long_max), src_vocab, tgt_vocab)
