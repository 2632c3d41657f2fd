"""rlx.compare: grouping, mean +- std over seeds, config differences, and PNG learning curves."""

from pathlib import Path

import pytest

from rlx.compare import RunData, compare, differing_keys, group_runs, main, mean_std, summary_rows
from tests.train.helpers import train_run


def fake(name, choices, config, curve):
    return RunData(Path(name), config, choices, [{"step": i + 1, "reward/mean": v} for i, v in enumerate(curve)])


RUNS = [
    fake("a", {"advantage": "grpo"}, {"seed": 0, "advantage._target_": "g", "trainer.lr": 1e-5}, [0.1, 0.5, 0.3]),
    fake("b", {"advantage": "grpo"}, {"seed": 1, "advantage._target_": "g", "trainer.lr": 1e-5}, [0.2, 0.4, 0.5]),
    fake("c", {"advantage": "rloo"}, {"seed": 0, "advantage._target_": "r", "trainer.lr": 1e-5}, [0.0, 0.1]),
]


def test_differing_keys_prefers_choice_names():
    assert differing_keys(RUNS) == {"advantage": ["grpo", "grpo", "rloo"], "seed": [0, 1, 0]}


def test_groups_and_summary_values():
    groups = group_runs(RUNS, ["advantage"])
    assert {k: [r.path.name for r in v] for k, v in groups.items()} == \
        {"advantage=grpo": ["a", "b"], "advantage=rloo": ["c"]}
    rows = summary_rows(groups, ["reward/mean"])
    # grpo: finals 0.3, 0.5 -> 0.4 +- 0.14; bests 0.5, 0.5 -> 0.5 +- 0
    assert rows == [["advantage=grpo", "2", "0.4 +- 0.14", "0.5 +- 0"], ["advantage=rloo", "1", "0.1", "0.1"]]
    assert mean_std([]) == "-"


def test_unknown_group_key_is_explained():
    with pytest.raises(KeyError, match='did you mean "advantage"'):
        group_runs(RUNS, ["advantag"])


@pytest.mark.slow
def test_compare_three_real_runs_writes_table_and_png(tmp_path, capsys):
    common = ["env=sanity_digits", "iterations=3", "trainer.tasks_per_iter=2", "trainer.group_size=2",
              "rollout.max_new_tokens=8", "trainer.eval_tasks=2"]
    for overrides in (["seed=0"], ["seed=1"], ["advantage=rloo", "seed=0"]):
        train_run(tmp_path, *common, *overrides)
    out = tmp_path / "plots"
    capsys.readouterr()
    assert main([str(tmp_path / "runs"), "--by", "advantage", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("3 runs, grouped by advantage")
    assert "advantage=grpo  2" in text and "advantage=rloo  1" in text
    assert "config differences:" in text and "  seed: 0, 1" in text
    for png in ("reward_mean.png", "eval_passat1.png"):
        data = (out / png).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    report = compare([tmp_path / "runs"], out=None)
    assert "grouped by advantage" in report and "learning curves" not in report


def test_no_runs_is_an_error(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "no run directories" in capsys.readouterr().err


def disk_run(root, name, advantage, seed, curve, status=None):
    import json

    import yaml

    path = root / name
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "advantage": {"_target_": advantage}}))
    (path / "manifest.json").write_text(json.dumps({"choices": {"advantage": advantage}}))
    (path / "metrics.jsonl").write_text("".join(json.dumps({"step": i + 1, "reward/mean": v}) + "\n"
                                                for i, v in enumerate(curve)))
    if status:
        (path / "status.json").write_text(json.dumps(status))
    return path


def test_failed_points_are_marked_failed_not_dashes(tmp_path):
    disk_run(tmp_path, "000", "grpo", 0, [0.1, 0.4], {"state": "done"})
    disk_run(tmp_path, "001", "grpo", 1, [0.9], {"state": "failed", "error": "RuntimeError: CUDA out of memory\nmore"})
    bad = disk_run(tmp_path, "002", "rloo", 0, [], {"state": "failed", "error": "ValueError: bad data"})
    report = compare([tmp_path], by=["advantage"], metrics=["reward/mean"], out=None)
    rows = [line.split("  ") for line in report.splitlines()[3:5]]
    assert [[c.strip() for c in row if c.strip()] for row in rows] == [
        ["advantage=grpo", "2 (1 failed)", "0.4", "0.4"],  # the failed seed's 0.9 is left out
        ["advantage=rloo", "1 (1 failed)", "failed", "failed"]]
    assert "failed runs (left out of the statistics):" in report
    assert f"  {bad}: ValueError: bad data" in report
    assert f"{tmp_path / '001'}: RuntimeError: CUDA out of memory" in report
