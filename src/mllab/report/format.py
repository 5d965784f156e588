"""Numbers as people read them, shared by the report and the CLI: significant digits, not float reprs.

`format_value(-2.9333333333333336) == "-2.933"`; `tidy_numbers("loss 0.123456789 at step 3")` rewrites
the long numbers inside a text an experiment wrote (`observed`), leaving short ones, integers, versions
and names alone; `comparison_text(c)` is one comparison (`run.compare`) as both arms' mean ± SE, the
difference and the margin.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

DIGITS = 4  # significant digits of observed values and metrics
SE_DIGITS = 2  # of standard errors

# A decimal number with more than DIGITS + 1 digits after the point, not part of a word or a version.
_LONG_NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d{%d,}(?:[eE][+-]?\d+)?(?![\w.])" % (DIGITS + 2))


def sig(value: float, digits: int = DIGITS) -> str:
    """A float to `digits` significant digits ("nan" and "inf" as such)."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def format_value(value: Any, limit: int = 160) -> str:
    """A number or small structure as short text: floats to DIGITS significant digits, long lists cut."""
    if value is None:
        return "—"
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return tidy_numbers(value)
    if isinstance(value, float):
        return sig(value)
    text = json.dumps(_round(value), separators=(", ", ": "))
    if len(text) > limit:
        size = f" ({len(value)} items)" if isinstance(value, (list, dict)) else ""
        text = text[: limit - 1] + "…" + size
    return text


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return float(sig(value)) if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def tidy_numbers(text: str) -> str:
    """`text` with each long decimal number cut to DIGITS significant digits."""
    return _LONG_NUMBER.sub(lambda m: sig(float(m.group(0))), text)


def mean_se(mean: float | None, se: float | None) -> str:
    """"0.9123 ± 0.0041" (the SE to SE_DIGITS significant digits)."""
    if mean is None:
        return "—"
    if se is None or not math.isfinite(se):
        return sig(mean)
    return f"{sig(mean)} ± {sig(se, SE_DIGITS)}"


def margin_text(comparison: dict[str, Any]) -> str:
    """The margin as the claim states it: a factor for log comparisons, else a difference."""
    margin = comparison.get("margin", 0.0)
    if comparison.get("log"):
        return f"{sig(margin)}× (log-ratio {sig(math.log(margin))})" if margin > 0 else f"{sig(margin)}×"
    return sig(margin)


def comparison_text(comparison: dict[str, Any]) -> str:
    """One line: both arms' mean ± SE (n), the difference ± SE, its lower 95 % bound and the margin."""
    a, b = comparison["a"], comparison["b"]
    scale = "log-ratio" if comparison.get("log") else "difference"
    bound = comparison.get("lower_bound")
    return (f"{a['label']} {mean_se(a['mean'], a['se'])} vs {b['label']} {mean_se(b['mean'], b['se'])} "
            f"(n={comparison.get('n')}{', paired' if comparison.get('paired') else ''}); "
            f"{scale} {mean_se(comparison.get('difference'), comparison.get('se'))}, "
            f"lower 95% bound {sig(bound) if bound is not None else '—'} vs margin {margin_text(comparison)}")
