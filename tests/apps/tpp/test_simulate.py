import numpy as np
import pytest
from scipy import integrate, stats

from rnnzoo.apps.tpp.simulate import Hawkes, SelfCorrecting, simulate

PROCESSES = [Hawkes.default(), SelfCorrecting.default()]


def brute_force_rate(proc, times, marks, t):
    """lambda_k(t) [K] straight from the definition, summing over every earlier event."""
    before = times < t
    if isinstance(proc, Hawkes):
        kernel = proc.beta * np.exp(-proc.beta * (t - times[before]))
        return proc.mu + proc.alpha[:, marks[before]] @ kernel
    return np.exp(proc.mu * t - proc.alpha[:, marks[before]].sum(1))


@pytest.mark.parametrize("proc", PROCESSES, ids=["hawkes", "self_correcting"])
def test_log_likelihood_matches_the_definition_and_quadrature(proc):
    times, marks = simulate(proc, 12, np.random.default_rng(1))
    log_rates = sum(np.log(brute_force_rate(proc, times, marks, t)[m]) for t, m in zip(times, marks))
    edges = np.concatenate(([0.0], times))
    compensator = sum(integrate.quad(lambda t: brute_force_rate(proc, times, marks, t).sum(), a, b,
                                     epsabs=1e-12, epsrel=1e-10)[0] for a, b in zip(edges[:-1], edges[1:]))
    assert proc.log_likelihood(times, marks) == pytest.approx(log_rates - compensator, rel=1e-8)


@pytest.mark.parametrize("proc", PROCESSES, ids=["hawkes", "self_correcting"])
def test_time_rescaled_gaps_are_unit_exponential(proc):
    """Time-rescaling theorem: the compensator between consecutive events is Exp(1) for the true intensity."""
    rng = np.random.default_rng(0)
    increments = []
    for _ in range(20):
        times, marks = simulate(proc, 100, rng)
        gaps, states = proc.states(times, marks)
        increments.append(proc.integral(states, gaps[:, None])[:, 0].sum(-1))
    z = np.concatenate(increments)
    assert stats.kstest(z, "expon").pvalue > 1e-4
    assert abs(z.mean() - 1) < 5 / np.sqrt(len(z))


def test_hawkes_event_rate_and_mark_mix_reach_the_stationary_ones():
    proc, rng = Hawkes.default(), np.random.default_rng(0)
    rate = proc.stationary_rate()
    runs = [simulate(proc, 2500, rng) for _ in range(4)]
    counts = np.bincount(np.concatenate([m[500:] for _, m in runs]), minlength=3)
    elapsed = sum(t[-1] - t[499] for t, _ in runs)  # the first 500 events are the burn-in from an empty history
    assert counts.sum() / elapsed == pytest.approx(rate.sum(), rel=0.06)
    np.testing.assert_allclose(counts / counts.sum(), rate / rate.sum(), atol=0.03)


def test_simulated_times_increase_and_marks_are_in_range():
    for proc in PROCESSES:
        times, marks = simulate(proc, 50, np.random.default_rng(3))
        assert (np.diff(times) > 0).all() and times[0] > 0 and set(marks) <= set(range(proc.num_marks))
