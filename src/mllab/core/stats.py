"""The protocol's one rule for comparing two settings over seeds.

Rule (stated once, used by every `run.compare`): with per-seed values a_i, b_i of two arms, the
difference in the claimed direction is d_i = a_i - b_i (better="higher") or b_i - a_i (better="lower"),
on the log scale when `log=True` (then the margin is a factor, e.g. 2 = "at least twice as good").
The claim "a beats b by more than the margin" passes only when the lower end of the one-sided 95 %
Student-t interval of mean(d) lies above the margin:

    mean(d) - t_{0.95, n-1} · SE(d) > margin,   SE(d) = sd(d) / √n

paired when both arms ran on the same seeds (the usual case: one seed draws the data split and the
initialisation for both arms), Welch's unpaired interval otherwise. Fewer than 2 values per arm
cannot pass: one seed carries no measure of noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal, Sequence

from scipy import stats as scipy_stats

CONFIDENCE = 0.95
RULE = ("one-sided 95% Student-t interval of the per-seed difference (paired when seeds match, Welch otherwise): "
        "passes when mean - t·SE > margin")


@dataclass
class Arm:
    label: str
    values: list[float]
    mean: float
    se: float  # standard error of the mean, sd / √n
    n: int


@dataclass
class Comparison:
    """The outcome of comparing arm `a` against arm `b`; `passed` is the protocol's decision."""

    a: Arm
    b: Arm
    better: str
    margin: float
    log: bool
    paired: bool
    difference: float  # mean of d (log-ratio when log=True)
    se: float  # standard error of that mean
    lower_bound: float  # mean - t·SE: the claim passes when this exceeds the margin (on the same scale)
    n: int
    passed: bool
    rule: str = RULE

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line: both arms as mean ± SE, the difference and its lower bound against the margin."""
        scale = "log-ratio" if self.log else "difference"
        margin = f"log {self.margin:g} = {math.log(self.margin):.3g}" if self.log else f"{self.margin:.3g}"
        return (f"{self.a.label} {self.a.mean:.4g} ± {self.a.se:.2g} vs {self.b.label} {self.b.mean:.4g} ± "
                f"{self.b.se:.2g} (n={self.n}{', paired' if self.paired else ''}); {scale} {self.difference:.3g} ± "
                f"{self.se:.2g}, lower 95% bound {self.lower_bound:.3g} vs margin {margin}")


def _arm(label: str, values: Sequence[float]) -> Arm:
    vals = [float(v) for v in values]
    n = len(vals)
    mean = sum(vals) / n if n else float("nan")
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else float("nan")
    return Arm(label, vals, mean, sd / math.sqrt(n) if n > 1 else float("nan"), n)


def compare(a: Sequence[float], b: Sequence[float], *, margin: float = 0.0,
            better: Literal["higher", "lower"] = "higher", log: bool = False, paired: bool | None = None,
            labels: tuple[str, str] = ("a", "b")) -> Comparison:
    """Judge "a is better than b by more than `margin`" over per-seed values (see the module's rule).

    a, b: per-seed values, in the same seed order when paired. `paired=None` pairs them when their
    lengths match. With `log=True` values must be > 0 and `margin` is a factor ≥ 1.
    Non-finite values make the comparison fail (a diverged seed is not evidence for the claim).
    """
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', got {better!r}")
    if log and margin < 1:
        raise ValueError(f"with log=True the margin is a factor >= 1, got {margin}")
    arm_a, arm_b = _arm(labels[0], a), _arm(labels[1], b)
    paired = (len(arm_a.values) == len(arm_b.values)) if paired is None else paired
    if paired and len(arm_a.values) != len(arm_b.values):
        raise ValueError(f"paired comparison needs equal lengths, got {len(arm_a.values)} and {len(arm_b.values)}")
    sign = 1.0 if better == "higher" else -1.0
    threshold = math.log(margin) if log else margin
    finite = all(math.isfinite(v) and (not log or v > 0) for v in arm_a.values + arm_b.values)
    transform = math.log if log else (lambda v: v)
    n = min(arm_a.n, arm_b.n)
    if not finite or n < 2:
        return Comparison(arm_a, arm_b, better, margin, log, paired, float("nan"), float("nan"), float("nan"), n,
                          False)
    if paired:
        d = [sign * (transform(x) - transform(y)) for x, y in zip(arm_a.values, arm_b.values)]
        diff = _arm("d", d)
        mean, se, dof = diff.mean, diff.se, n - 1
    else:
        ta, tb = _arm("a", [transform(v) for v in arm_a.values]), _arm("b", [transform(v) for v in arm_b.values])
        mean = sign * (ta.mean - tb.mean)
        se = math.sqrt(ta.se ** 2 + tb.se ** 2)
        # Welch–Satterthwaite degrees of freedom
        dof = se ** 4 / ((ta.se ** 4 / (ta.n - 1)) + (tb.se ** 4 / (tb.n - 1))) if se > 0 else ta.n + tb.n - 2
    t = float(scipy_stats.t.ppf(CONFIDENCE, dof))
    lower = mean - t * se if se > 0 else mean
    return Comparison(arm_a, arm_b, better, margin, log, paired, mean, se, lower, n, bool(lower > threshold))
