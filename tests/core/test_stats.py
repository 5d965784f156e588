"""The protocol's comparison rule: a one-sided 95 % t-interval of the per-seed difference against the margin."""

import math

import pytest
from scipy import stats as scipy_stats

from mllab.core.stats import compare


def test_paired_bound_equals_scipys_one_sided_t_interval():
    a, b = [0.91, 0.93, 0.90, 0.95, 0.92], [0.88, 0.90, 0.89, 0.90, 0.91]
    result = compare(a, b, margin=0.0, better="higher")
    d = [x - y for x, y in zip(a, b)]
    se = scipy_stats.sem(d)
    lower = sum(d) / len(d) - scipy_stats.t.ppf(0.95, len(d) - 1) * se
    assert result.paired and result.n == 5
    assert result.difference == pytest.approx(sum(d) / 5) and result.se == pytest.approx(se)
    assert result.lower_bound == pytest.approx(lower) and result.passed == (lower > 0)
    # the same decision as scipy's one-sided paired t-test at 5 % when the margin is 0
    assert result.passed == (scipy_stats.ttest_rel(a, b, alternative="greater").pvalue < 0.05)


def test_margin_decides():
    b = [1.0, 2.0, 3.0, 4.0]
    a = [v + 0.5 + 0.01 * i for i, v in enumerate(b)]  # a beats b by 0.50-0.53 on every seed
    assert compare(a, b, margin=0.4).passed
    assert not compare(a, b, margin=0.6).passed


def test_lower_is_better_flips_the_sign():
    fast, slow = [10, 12, 11], [20, 25, 22]
    assert compare(fast, slow, better="lower").passed
    assert not compare(fast, slow, better="higher").passed


def test_equal_arms_never_pass_and_noise_can_sink_a_mean_difference():
    same = [0.3, 0.5, 0.4]
    assert not compare(same, same).passed  # zero difference is not above margin 0
    noisy_a, noisy_b = [0.9, 0.1, 0.8], [0.5, 0.5, 0.5]  # mean 0.6 > 0.5, but the seeds disagree
    result = compare(noisy_a, noisy_b)
    assert result.difference > 0 and not result.passed


def test_one_seed_or_non_finite_values_cannot_pass():
    assert not compare([1.0], [0.0]).passed
    assert not compare([1.0, 2.0, math.nan], [0.0, 0.0, 0.0]).passed


def test_log_scale_margin_is_a_factor():
    steps_a, steps_b = [10, 11, 9], [100, 120, 95]  # ~10x fewer steps
    assert compare(steps_a, steps_b, better="lower", log=True, margin=5).passed
    assert not compare(steps_a, steps_b, better="lower", log=True, margin=20).passed
    with pytest.raises(ValueError):
        compare(steps_a, steps_b, log=True, margin=0.5)


def test_unpaired_uses_welch():
    a, b = [5.0, 5.2, 4.9, 5.1], [4.0, 4.3, 3.8]
    result = compare(a, b)
    assert not result.paired
    welch = scipy_stats.ttest_ind(a, b, equal_var=False, alternative="greater")
    assert result.passed == (welch.pvalue < 0.05)
