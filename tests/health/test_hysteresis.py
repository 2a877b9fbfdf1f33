"""The hysteresis machine (pure): thresholds, counter resets, no flapping, a noisy probe over a minute."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.health.hysteresis import Machine, State, Thresholds, forget, observe

T0 = datetime(2026, 1, 1, tzinfo=UTC)

thresholds = st.builds(Thresholds, failure=st.integers(1, 10), success=st.integers(1, 10))
results = st.lists(st.booleans(), max_size=60)
states = st.sampled_from(list(State))


def run(m: Machine, seq: list[bool], th: Thresholds) -> tuple[Machine, list[State]]:
    changes = []
    for i, ok in enumerate(seq):
        m, tr = observe(m, ok, T0 + timedelta(seconds=i), th, "ok" if ok else "refused")
        if tr is not None:
            assert tr.old is not tr.new
            changes.append(tr.new)
    return m, changes


@given(
    st.builds(Thresholds, failure=st.integers(2, 10), success=st.integers(2, 10)),
    states,
    st.booleans(),
    st.integers(0, 60),
)
def test_alternating_results_never_change_the_state(
    th: Thresholds, start: State, first: bool, n: int
) -> None:
    seq = [first if i % 2 == 0 else not first for i in range(n)]
    m, changes = run(Machine(start), seq, th)
    assert changes == []
    assert m.state is start


@given(thresholds, states, st.booleans(), results)
def test_enough_identical_results_reach_the_matching_state(
    th: Thresholds, start: State, ok: bool, prefix: list[bool]
) -> None:
    m, _ = run(Machine(start), prefix, th)
    needed = th.success if ok else th.failure
    m, _ = run(m, [ok] * needed, th)
    assert m.state is (State.HEALTHY if ok else State.UNHEALTHY)


@given(thresholds, results)
def test_counters_are_the_length_of_the_current_run(th: Thresholds, seq: list[bool]) -> None:
    m, _ = run(Machine(), seq, th)
    run_len = 0
    for ok in reversed(seq):
        if ok != seq[-1]:
            break
        run_len += 1
    if not seq:
        assert (m.failures, m.successes) == (0, 0)
    elif seq[-1]:
        assert (m.successes, m.failures) == (run_len, 0)
    else:
        assert (m.failures, m.successes) == (run_len, 0)


@given(thresholds, results)
def test_state_changes_only_when_a_run_reaches_its_threshold(th: Thresholds, seq: list[bool]) -> None:
    m = Machine()
    for i, ok in enumerate(seq):
        before = m
        m, tr = observe(m, ok, T0 + timedelta(seconds=i), th)
        if tr is None:
            assert m.state is before.state
            continue
        assert m.since == T0 + timedelta(seconds=i)
        if ok:
            assert tr.new is State.HEALTHY
            assert m.successes == th.success
        else:
            assert tr.new is State.UNHEALTHY
            assert m.failures == th.failure


def test_unknown_until_a_threshold_is_reached_then_the_reason_is_the_last_failure() -> None:
    th = Thresholds(failure=3, success=2)
    m, changes = run(Machine(), [False, False], th)
    assert m.state is State.UNKNOWN
    assert changes == []
    m, tr = observe(m, False, T0, th, "VIP 127.0.0.5:80 refused")
    assert tr is not None
    assert (tr.old, tr.new) == (State.UNKNOWN, State.UNHEALTHY)
    assert m.reason == "VIP 127.0.0.5:80 refused"
    assert m.confirming is False
    m, _ = observe(m, True, T0, th, "accepted")
    assert m.confirming is True
    assert m.state is State.UNHEALTHY
    assert m.reason == "VIP 127.0.0.5:80 refused"  # a lone success does not explain the state


def test_forget_goes_back_to_unknown_with_a_transition() -> None:
    th = Thresholds(failure=1, success=1)
    m, _ = observe(Machine(), True, T0, th)
    m, tr = forget(m, T0)
    assert m.state is State.UNKNOWN
    assert tr is not None
    assert tr.new is State.UNKNOWN
    assert forget(Machine(), T0)[1] is None


def test_thirty_percent_errors_for_a_minute_cause_at_most_one_transition() -> None:
    """The default VIP settings (2 s interval, failure threshold 8, success 2, confirmation re-probes
    at the fast interval) against a target failing 30% of probes at random, 60 s of simulated time,
    1,000 different minutes. Noise is random, so this is a rate: a run of 8 failures at 30% is rare
    (p = 0.3^8 per start), which is what the threshold is chosen for."""
    from federation.health.sweeps import HealthConfig, VipSpec

    fast = HealthConfig().fast_interval
    vip = VipSpec()
    interval, th = vip.interval, Thresholds(vip.failure_threshold, vip.success_threshold)
    flapped = 0
    for seed in range(1000):
        rng = random.Random(seed)
        m, _ = observe(Machine(), True, T0, Thresholds(1, 1))  # healthy before the noise starts
        t, transitions = 0.0, 0
        while t < 60.0:
            m, tr = observe(m, rng.random() >= 0.3, T0 + timedelta(seconds=t), th)
            transitions += tr is not None
            t += fast if m.confirming else interval
        flapped += transitions > 1
    assert flapped <= 10  # at most 1% of the minutes see more than one transition


def test_a_real_outage_is_confirmed_within_a_few_seconds() -> None:
    """Every probe failing: unhealthy after one interval plus (threshold - 1) fast re-probes."""
    from federation.health.sweeps import HealthConfig, VipSpec

    fast, vip = HealthConfig().fast_interval, VipSpec()
    th = Thresholds(vip.failure_threshold, vip.success_threshold)
    m, _ = observe(Machine(), True, T0, Thresholds(1, 1))
    t = vip.interval  # the worst case: the fault starts just after a probe
    while True:
        m, tr = observe(m, False, T0 + timedelta(seconds=t), th)
        if tr is not None:
            break
        t += fast if m.confirming else vip.interval
    assert m.state is State.UNHEALTHY
    assert t == pytest.approx(vip.interval + (vip.failure_threshold - 1) * fast)
