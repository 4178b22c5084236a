"""Statistics over seeds for the leaderboard: a 95% Student-t interval for a mean, and Welch's t-test.

```python
from rnnzoo.bench.stats import interval, differs
interval([0.91, 0.95, 0.88])           # (0.9133, 0.0869): mean and half-width, t_{0.975, n-1} * s / sqrt(n)
differs([1.0, 1.0, 1.0], [0.5, 0.6, 0.4])   # True: Welch's t-test rejects equal means at the 5% level
```

The quantiles of Student's t are tabulated (two-sided 95%, df 1..30; 1.96 above), so no SciPy is needed.
Welch's test uses the Welch-Satterthwaite degrees of freedom rounded down, which makes it slightly
conservative (a difference is called significant a little less often than at exactly 5%).
"""

from __future__ import annotations

import math
from statistics import mean, stdev

# t_{0.975, df} for df = 1 .. 30
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042)
LABEL = "95% Student-t interval over seeds"


def t975(df: float) -> float:
    """The two-sided 95% quantile of Student's t with ``df`` degrees of freedom (rounded down; >= 1)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    whole = int(math.floor(df))
    return T975[whole - 1] if whole <= len(T975) else 1.96


def interval(values: list[float]) -> tuple[float, float | None]:
    """(mean, half-width of the 95% t-interval); the half-width is None for fewer than two values."""
    if not values:
        raise ValueError("interval needs at least one value")
    if len(values) < 2:
        return mean(values), None
    return mean(values), t975(len(values) - 1) * stdev(values) / math.sqrt(len(values))


def differs(a: list[float], b: list[float]) -> bool | None:
    """Whether Welch's two-sided t-test rejects equal means of ``a`` and ``b`` at the 5% level; None when either
    has fewer than two values (no test possible). With no spread in either, any difference in means counts."""
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = stdev(a) ** 2 / len(a), stdev(b) ** 2 / len(b)
    gap = abs(mean(a) - mean(b))
    if va + vb == 0:
        return gap > 0
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return gap / math.sqrt(va + vb) > t975(max(1.0, df))
