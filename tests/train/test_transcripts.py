"""Evaluation transcripts: the prompts and responses of a few episodes, as the model saw them
(scripted engine on the toy walk, and a short real training run)."""

import json
from types import SimpleNamespace

import pytest

from rlx.train.settings import TrainerSettings
from rlx.train.transcripts import episode_transcripts, pick_episodes, transcript_writer
from tests.agent.test_action_admitted import SCRIPT, play, tokenizer  # noqa: F401 -- the fixture
from tests.train.helpers import train_run


def test_pick_episodes_covers_task_types_first():
    tasks = [SimpleNamespace(task_type=t) for t in ["a", "a", "b", "a", "c", "b"]]
    assert pick_episodes(tasks, 3) == [0, 2, 4]
    assert pick_episodes(tasks, 4) == [0, 1, 2, 4]
    assert pick_episodes(tasks, 10) == [0, 1, 2, 3, 4, 5]


def test_step_rows_give_each_step_its_prompt_and_response(tokenizer):
    batch = play(tokenizer, "step")
    records = episode_transcripts(batch, tokenizer, limit=2)
    assert [r["episode"] for r in records] == [0, 1]  # one task type: the first two episodes
    for r in records:
        rows = (batch.episode_ids == r["episode"]).sum().item()
        assert [s["step"] for s in r["steps"]] == list(range(rows))
        assert r["task"] == batch.episode_tasks[r["episode"]].uid
        for s in r["steps"]:
            assert s["response"] == SCRIPT[s["step"]]
            assert batch.episode_tasks[r["episode"]].prompt in s["prompt"]
            assert s["admitted"] is (s["step"] != 1)
        assert r["return"] == pytest.approx(sum(s["reward"] for s in r["steps"]))


def test_trajectory_rows_are_one_chat_per_episode(tokenizer):
    batch = play(tokenizer, "trajectory")
    records = episode_transcripts(batch, tokenizer, limit=10)
    assert len(records) == 6
    for r in records:
        (entry,) = r["steps"]
        assert "prompt" not in entry and "<action>jump</action>" in entry["response"]
        assert entry["admitted"] is False


def test_writer_writes_json_lines_and_zero_writes_nothing(tokenizer, tmp_path):
    batch = play(tokenizer, "step")
    assert transcript_writer(tmp_path, 3, tokenizer, 0) is None
    transcript_writer(tmp_path, 3, tokenizer, 2)(batch)
    lines = (tmp_path / "transcripts" / "eval_step_000003.jsonl").read_text().splitlines()
    assert [json.loads(x)["episode"] for x in lines] == [0, 1]


def test_a_negative_count_is_a_config_error():
    with pytest.raises(ValueError, match="trainer.eval_transcripts"):
        TrainerSettings(eval_transcripts=-1)


def test_a_training_run_writes_the_before_and_after_transcripts(tmp_path):
    run_dir, _ = train_run(tmp_path, "iterations=2", "trainer.tasks_per_iter=2", "trainer.group_size=2",
                           "rollout.max_new_tokens=8", "trainer.eval_at_start=true", "trainer.eval_tasks=3",
                           "trainer.eval_transcripts=2")
    files = sorted(p.name for p in (run_dir / "transcripts").iterdir())
    assert files == ["eval_step_000000.jsonl", "eval_step_000002.jsonl"]
    for name in files:
        records = [json.loads(x) for x in (run_dir / "transcripts" / name).read_text().splitlines()]
        assert len(records) == 2
        for r in records:
            (entry,) = r["steps"]  # single-turn: one step per episode
            assert entry["prompt"] and isinstance(entry["response"], str)
