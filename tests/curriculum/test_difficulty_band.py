"""The difficulty band: edges, unseen tasks first, fallback, decay, metrics and state."""

import pytest

from rlx.curriculum.difficulty_band import DifficultyBandCurriculum
from tests.curriculum.fakes import score, tasks


def observe(curriculum, rates_by_uid: dict[str, list[int]]):
    """One update with the given per-task rollout rewards."""
    task_list = {t.uid: t for t in curriculum.tasks}
    return curriculum.update([task_list[u] for u in rates_by_uid],
                             [score(r) for rs in rates_by_uid.values() for r in rs])


def uids(picked):
    return sorted(t.uid for t in picked)


def test_band_edges_are_included():
    band = DifficultyBandCurriculum(tasks(5), seed=0, low=0.25, high=0.75)
    metrics = observe(band, {"t0": [1, 0, 0, 0], "t1": [1, 1, 1, 0], "t2": [0, 0, 0, 0],
                             "t3": [1, 1, 1, 1], "t4": [1, 1, 0, 0]})
    assert uids(band.sample(3)) == ["t0", "t1", "t4"]  # 0.25, 0.75 and 0.5
    assert metrics["curriculum/in_band_frac"] == 3 / 5
    assert metrics["curriculum/seen_frac"] == 1.0
    assert metrics["curriculum/pass_rate_mean"] == 0.5
    assert metrics["curriculum/pass_rate_hist/0.0-0.2"] == 1 / 5
    assert metrics["curriculum/pass_rate_hist/0.8-1.0"] == 1 / 5


def test_unseen_tasks_come_first_then_the_band():
    band = DifficultyBandCurriculum(tasks(6), seed=0)
    observe(band, {"t0": [1, 0], "t1": [0, 1]})
    assert uids(band.sample(4)) == ["t2", "t3", "t4", "t5"]
    assert band.last_sample["curriculum/sampled_unseen"] == 1.0
    picked = band.sample(5)
    assert uids(picked)[2:] == ["t3", "t4", "t5"] and len({t.uid for t in picked}) == 5
    assert band.last_sample == {"curriculum/sampled_unseen": 0.8, "curriculum/sampled_in_band": 0.2,
                                "curriculum/sampled_fallback": 0.0}


def test_unseen_fraction_caps_exploration():
    band = DifficultyBandCurriculum(tasks(6), seed=0, unseen_fraction=0.5)
    observe(band, {"t0": [1, 0], "t1": [0, 1]})
    picked = band.sample(4)
    assert {"t0", "t1"} <= {t.uid for t in picked}
    assert band.last_sample["curriculum/sampled_unseen"] == 0.5


def test_fallback_takes_the_tasks_nearest_the_band():
    band = DifficultyBandCurriculum(tasks(4), seed=0, low=0.3, high=0.6)
    observe(band, {"t0": [0, 0, 0, 0], "t1": [1, 1, 1, 1], "t2": [1, 1, 1, 0], "t3": [1, 0, 0, 0]})
    # distances to [0.3, 0.6]: t0 0.3, t1 0.4, t2 0.15, t3 0.05
    assert uids(band.sample(2)) == ["t2", "t3"]
    assert uids(band.sample(3)) == ["t0", "t2", "t3"]
    assert band.last_sample["curriculum/sampled_fallback"] == 1.0


def test_stale_estimates_are_explored_again():
    band = DifficultyBandCurriculum(tasks(2), seed=0, decay=0.5, min_weight=1.0)
    observe(band, {"t0": [0, 0, 0, 0], "t1": [1, 0, 1, 0]})   # t0 too hard: weight 4 at it 0
    assert band.tracker.weight("t0", band.iteration) == 2.0
    assert uids(band.sample(1)) == ["t1"]
    observe(band, {"t1": [1, 0, 1, 0]})
    assert band.tracker.weight("t0", band.iteration) == 1.0   # still known (>= min_weight)
    assert uids(band.sample(1)) == ["t1"]
    observe(band, {"t1": [1, 0, 1, 0]})                       # weight 0.5: unseen again
    assert uids(band.sample(1)) == ["t0"]


def test_state_round_trip_gives_the_same_samples():
    a = DifficultyBandCurriculum(tasks(20), seed=3)
    for _ in range(3):
        picked = a.sample(4)
        a.update(picked, [score(i % 2) for i in range(8)])
    b = DifficultyBandCurriculum(tasks(20), seed=3)
    b.load_state_dict(a.state_dict())
    assert [uids(a.sample(4)) for _ in range(3)] == [uids(b.sample(4)) for _ in range(3)]


def test_bad_settings_name_the_key():
    with pytest.raises(ValueError, match="curriculum.low=0.9 and curriculum.high=0.1"):
        DifficultyBandCurriculum(tasks(2), seed=0, low=0.9, high=0.1)
    with pytest.raises(ValueError, match="curriculum.decay"):
        DifficultyBandCurriculum(tasks(2), seed=0, decay=0.0)
    with pytest.raises(ValueError, match="asked for 3 distinct tasks"):
        DifficultyBandCurriculum(tasks(2), seed=0).sample(3)
