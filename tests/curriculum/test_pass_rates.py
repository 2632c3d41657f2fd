"""Decayed per-task pass rates and the pass-rate histogram."""

from rlx.curriculum.pass_rates import PassRateTracker, group_pass_counts, pass_rate_histogram
from tests.curriculum.fakes import score


def test_decayed_counts_weigh_recent_rollouts_more():
    tracker = PassRateTracker(decay=0.5)
    tracker.observe("a", 1, 4, now=0)
    assert tracker.rates(0) == {"a": 0.25}
    tracker.observe("a", 4, 4, now=1)  # s = 0.5 * 1 + 4, n = 0.5 * 4 + 4
    assert tracker.rates(1) == {"a": 0.75}
    tracker.observe("a", 0, 4, now=3)  # s = 0.25 * 4.5, n = 0.25 * 6 + 4
    assert tracker.rates(3)["a"] == 1.125 / 5.5


def test_evidence_decays_until_the_estimate_is_stale():
    tracker = PassRateTracker(decay=0.5, min_weight=1.0)
    tracker.observe("a", 2, 4, now=0)
    assert [tracker.weight("a", t) for t in (0, 1, 2, 3)] == [4.0, 2.0, 1.0, 0.5]
    assert tracker.rates(2) == {"a": 0.5}
    assert tracker.rates(3) == {}  # below one rollout's worth: unseen again
    assert tracker.weight("never", 0) == 0.0


def test_state_round_trip():
    tracker = PassRateTracker(decay=0.9)
    tracker.observe("a", 3, 4, now=2)
    other = PassRateTracker(decay=0.9)
    other.load_state_dict(tracker.state_dict())
    assert other.rates(5) == tracker.rates(5) == {"a": 0.75}


def test_histogram_buckets_include_the_lower_edge_and_the_top():
    hist = pass_rate_histogram([0.0, 0.19, 0.2, 0.5, 0.8, 1.0])
    assert hist == {"curriculum/pass_rate_hist/0.0-0.2": 2 / 6, "curriculum/pass_rate_hist/0.2-0.4": 1 / 6,
                    "curriculum/pass_rate_hist/0.4-0.6": 1 / 6, "curriculum/pass_rate_hist/0.6-0.8": 0.0,
                    "curriculum/pass_rate_hist/0.8-1.0": 2 / 6}
    assert set(pass_rate_histogram([]).values()) == {0.0}


def test_group_pass_counts():
    scores = [score(r) for r in (1, 0, 1, 1, 0, 0)]
    assert group_pass_counts(scores, 3) == [(2, 3), (1, 3)]
