"""The seed statistics of the leaderboard against textbook values: t quantiles, the t-interval, Welch's test."""

import math

import pytest

from rnnzoo.bench.stats import differs, interval, t975


def test_t_quantiles_match_the_table_and_tend_to_the_normal():
    assert t975(1) == 12.706 and t975(2) == 4.303 and t975(2.9) == 4.303  # rounded down: conservative
    assert t975(30) == 2.042 and t975(1000) == 1.96
    with pytest.raises(ValueError, match="degrees of freedom"):
        t975(0.5)


def test_interval_is_the_student_t_half_width():
    centre, half = interval([0.9, 1.0, 0.8])  # mean 0.9, s = 0.1, n = 3
    assert centre == pytest.approx(0.9) and half == pytest.approx(4.303 * 0.1 / math.sqrt(3))
    assert interval([0.7]) == (0.7, None)
    assert interval([0.5, 0.5, 0.5])[1] == 0.0


def test_welch_test_tells_apart_only_what_the_seeds_support():
    assert differs([1.0, 1.0, 1.0], [0.5, 0.55, 0.45]) is True
    assert differs([0.9, 0.5, 0.7], [0.8, 0.6, 0.75]) is False  # wide spread: not significant
    assert differs([1.0, 1.0], [1.0, 1.0]) is False and differs([1.0, 1.0], [0.9, 0.9]) is True
    assert differs([1.0], [0.5, 0.6]) is None
    # a textbook case: t = 2.776 at df 4 is the two-sided 5% boundary; just above and below it
    a, b = [0.0, 2.0, 4.0], [0.0, 2.0, 4.0]
    shift = 2.776 * math.sqrt(2 * 4.0 / 3)  # var 4 each, n = 3: se of the difference; df = 4
    assert differs(a, [x + shift * 1.01 for x in b]) is True
    assert differs(a, [x + shift * 0.99 for x in b]) is False
