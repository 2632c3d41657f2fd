"""Evaluation transcripts: what the policy saw and did in a few held-out episodes, written as
JSON lines next to the metrics, so a run's failures can be read without a separate script.

`<run_dir>/transcripts/eval_step_<step>.jsonl`, one line per episode:

    {"episode": 0, "task": "<uid>", "task_type": "...", "won": false, "return": 0.0,
     "steps": [{"step": 0, "prompt": "...", "response": "...", "reward": 0.0,
                "format_ok": true, "admitted": true}, ...]}

Multi-turn step rows give one entry per policy step (the full prompt of that step, as the model
saw it, and its response). A trajectory row (`agent.sample_mode=trajectory`) holds the whole
episode as one chat, so its single entry has the chat under "response" and no "prompt".
Single-turn rows (math, code) are one-step episodes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rlx.rollout.batch import RolloutBatch, episode_returns, episode_solved
from rlx.utils.files import write_text_atomic

TRANSCRIPT_DIR = "transcripts"


def pick_episodes(tasks: list, limit: int) -> list[int]:
    """Up to `limit` episode indices: the first episode of each task type in order, then the
    next ones, so a few transcripts cover as many types as they can."""
    firsts, seen = [], set()
    for e, task in enumerate(tasks):
        if task.task_type not in seen:
            seen.add(task.task_type)
            firsts.append(e)
    firsts_set = set(firsts)
    rest = [e for e in range(len(tasks)) if e not in firsts_set]
    return sorted((firsts + rest)[:limit])


def episode_transcripts(batch: RolloutBatch, tokenizer: Any, limit: int) -> list[dict[str, Any]]:
    """Transcripts of up to `limit` episodes of `batch` (see the module docstring)."""
    multi_turn = batch.episode_tasks is not None
    tasks = batch.episode_tasks if multi_turn else batch.tasks
    trajectory = multi_turn and batch.episode_ids is None
    episode_of = (batch.episode_ids.tolist() if batch.episode_ids is not None
                  else list(range(len(batch.tasks))))
    chosen = pick_episodes(tasks, limit)
    rows: dict[int, list[int]] = {e: [] for e in chosen}
    for i, e in enumerate(episode_of):
        if e in rows:
            rows[e].append(i)
    returns, won = episode_returns(batch).tolist(), episode_solved(batch)
    records = []
    for e in chosen:
        order = sorted(rows[e], key=lambda i: int(batch.step_ids[i]) if batch.step_ids is not None else 0)
        records.append({
            "episode": e, "task": tasks[e].uid, "task_type": tasks[e].task_type,
            "won": bool(won[e]), "return": float(returns[e]),
            "steps": [row_entry(batch, i, tokenizer, with_prompt=not trajectory) for i in order],
        })
    return records


def row_entry(batch: RolloutBatch, i: int, tokenizer: Any, *, with_prompt: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"step": int(batch.step_ids[i]) if batch.step_ids is not None else 0}
    if with_prompt:
        acting = batch.action_mask[i].nonzero()
        end = int(acting[0]) if acting.numel() else int(batch.attention_mask[i].sum())
        entry["prompt"] = tokenizer.decode(batch.input_ids[i, :end].tolist())
    entry["response"] = batch.completions[i]
    entry["reward"] = float(batch.seq_rewards[i]) if batch.seq_rewards is not None else batch.scores[i].reward
    entry["format_ok"] = bool(batch.scores[i].format_ok)
    if batch.action_admitted is not None:
        entry["admitted"] = bool(batch.action_admitted[i])
    return entry


def write_transcripts(run_dir: str | Path, step: int, records: list[dict[str, Any]]) -> Path:
    """Write `records` to `<run_dir>/transcripts/eval_step_<step>.jsonl` (replacing an earlier
    file of that step, e.g. after a resume) and return the path."""
    out = Path(run_dir) / TRANSCRIPT_DIR
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"eval_step_{step:06d}.jsonl"
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return path


def transcript_writer(run_dir: str | Path | None, step: int, tokenizer: Any, limit: int):
    """The `on_batch` hook of `rlx.train.evaluate.evaluate` that writes `limit` transcripts of
    the evaluation after `step` updates; None (nothing written) when `limit` is 0 or there is no
    run directory."""
    if limit <= 0 or run_dir is None:
        return None
    return lambda batch: write_transcripts(run_dir, step, episode_transcripts(batch, tokenizer, limit))
