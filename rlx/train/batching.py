"""Group-level operations on rollout batches: per-group outcomes, concatenating rounds of
rollouts, keeping whole groups, and dropping rows/tokens of a training batch.

A group is the G rollouts (single-turn rows, or multi-turn episodes with all their step rows)
of one task. Groups are laid out in order: group g holds episodes g*G .. g*G+G-1, and
`group_ids`/`episode_ids` are 0..N-1 / 0..E-1 in row order. Every function here keeps that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from rlx.curriculum.base import TrainingSelector
from rlx.envs.base import Score, Task
from rlx.rollout.batch import RolloutBatch, episode_returns, episode_solved
from rlx.train.update import TrainBatch

# batch.stats entries that add up over rounds of rollouts; the rest are averaged
SUMMED_STATS = ("perf/generation_s", "perf/generation_tokens")


def num_episodes(batch: RolloutBatch) -> int:
    return len(batch.episode_tasks) if batch.episode_ids is not None else len(batch.tasks)


def group_tasks(batch: RolloutBatch, group_size: int) -> list[Task]:
    """(N,) the task of each group."""
    episodes = batch.episode_tasks if batch.episode_ids is not None else batch.tasks
    return list(episodes[::group_size])


def group_rewards(batch: RolloutBatch, group_size: int) -> torch.Tensor:
    """(N, G) each episode's summed `seq_rewards`, by group (right after collection, before
    shaping, that is the task reward)."""
    return episode_returns(batch).float().view(-1, group_size)


def group_outcomes(batch: RolloutBatch, group_size: int) -> tuple[list[Task], list[Score]]:
    """What `Curriculum.update` reads: the N tasks and their N x G episode scores, grouped.

    Single-turn: the row scores. Multi-turn: one score per episode (reward = the episode's
    return, correct = won, format_ok = every step was well-formed)."""
    if batch.episode_ids is None:
        return group_tasks(batch, group_size), list(batch.scores)
    returns, won = episode_returns(batch).tolist(), episode_solved(batch)
    well_formed = [True] * len(won)
    for e, score in zip(batch.episode_ids.tolist(), batch.scores):
        well_formed[e] &= score.format_ok
    scores = [Score(reward=r, correct=w, format_ok=f, parsed=None)
              for r, w, f in zip(returns, won, well_formed)]
    return group_tasks(batch, group_size), scores


def _pad_cat(tensors: Sequence[torch.Tensor], value) -> torch.Tensor:
    """Concatenate (B_i, T_i) tensors along rows, right-padding columns with `value`."""
    width = max(t.shape[1] for t in tensors)
    return torch.cat([torch.nn.functional.pad(t, (0, width - t.shape[1]), value=value)
                      for t in tensors])


def merge_stats(stats: Sequence[dict[str, float]]) -> dict[str, float]:
    """Stats of several rollout rounds: totals (`SUMMED_STATS`, `perf/time/*`) add up, the
    generation rate is recomputed from them, every other figure is the mean over rounds."""
    keys = dict.fromkeys(k for s in stats for k in s)
    merged = {}
    for k in keys:
        values = [s[k] for s in stats if k in s]
        summed = k in SUMMED_STATS or k.startswith("perf/time/")
        merged[k] = sum(values) if summed else sum(values) / len(values)
    if "perf/generation_tokens" in merged and "perf/generation_s" in merged:
        merged["perf/generation_tokens_per_s"] = (merged["perf/generation_tokens"]
                                                  / max(merged["perf/generation_s"], 1e-9))
    return merged


def concat_batches(batches: Sequence[RolloutBatch], pad_id: int) -> RolloutBatch:
    """One batch holding the groups of `batches` in order. Group ids of batch i are offset by
    the groups before it, episode ids by the episodes before it (multi-turn), so ids stay
    0..N-1 and 0..E-1; step ids and anchor/context keys are per episode and kept as they are."""
    if len(batches) == 1:
        return batches[0]
    first = batches[0]
    group_offset, episode_offset = [], []
    groups = episodes = 0
    for b in batches:
        group_offset.append(groups)
        episode_offset.append(episodes)
        groups += int(b.group_ids.max()) + 1 if b.group_ids.numel() else 0
        episodes += num_episodes(b)

    def cat_list(name: str) -> list | None:
        if getattr(first, name) is None:
            return None
        return [x for b in batches for x in getattr(b, name)]

    def cat_tensor(name: str) -> torch.Tensor | None:
        return None if getattr(first, name) is None else torch.cat([getattr(b, name) for b in batches])

    sampler = [b.sampler_logprobs for b in batches]
    if any(s is None for s in sampler) and not all(s is None for s in sampler):
        raise ValueError("concat_batches: some batches carry sampler log-probs and some do not")

    return RolloutBatch(
        tasks=cat_list("tasks"),
        group_ids=torch.cat([b.group_ids + o for b, o in zip(batches, group_offset)]),
        input_ids=_pad_cat([b.input_ids for b in batches], pad_id),
        attention_mask=_pad_cat([b.attention_mask for b in batches], 0),
        action_mask=_pad_cat([b.action_mask for b in batches], False),
        completions=cat_list("completions"), scores=cat_list("scores"), finished=cat_list("finished"),
        seq_rewards=cat_tensor("seq_rewards"),
        stats=merge_stats([b.stats for b in batches]),
        episode_ids=(None if first.episode_ids is None else
                     torch.cat([b.episode_ids + o for b, o in zip(batches, episode_offset)])),
        step_ids=cat_tensor("step_ids"), anchor_ids=cat_tensor("anchor_ids"),
        context_ids=cat_tensor("context_ids"),
        episode_tasks=cat_list("episode_tasks"), episode_won=cat_list("episode_won"),
        planner_mask=(None if first.planner_mask is None else
                      _pad_cat([b.planner_mask for b in batches], False)),
        segment_ids=cat_tensor("segment_ids"), blueprint_ids=cat_tensor("blueprint_ids"),
        sampler_logprobs=None if sampler[0] is None else _pad_cat(sampler, 0.0),
        action_admitted=cat_tensor("action_admitted"),
    )


def take_groups(batch: RolloutBatch, keep: torch.Tensor, group_size: int) -> RolloutBatch:
    """The rows of the groups where `keep` (N,) bool is True, with group and episode ids
    renumbered 0..K-1 and 0..K*G-1 in the same order. Needs at least one kept group."""
    if not keep.any():
        raise ValueError("take_groups: no group kept")
    new_group = torch.cumsum(keep.long(), 0) - 1             # (N,) new id of each kept group
    rows = keep[batch.group_ids].nonzero().squeeze(1)
    pick = rows.tolist()
    episodes = [e for e in range(num_episodes(batch)) if keep[e // group_size]]
    episode_ids = None
    if batch.episode_ids is not None:
        old = batch.episode_ids[rows]
        episode_ids = new_group[old // group_size] * group_size + old % group_size

    def rows_of(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t[rows]

    def episodes_of(items: list | None) -> list | None:
        return None if items is None else [items[e] for e in episodes]

    return RolloutBatch(
        tasks=[batch.tasks[i] for i in pick],
        group_ids=new_group[batch.group_ids[rows]],
        input_ids=batch.input_ids[rows], attention_mask=batch.attention_mask[rows],
        action_mask=batch.action_mask[rows],
        completions=[batch.completions[i] for i in pick], scores=[batch.scores[i] for i in pick],
        finished=[batch.finished[i] for i in pick],
        seq_rewards=rows_of(batch.seq_rewards), stats=dict(batch.stats),
        episode_ids=episode_ids, step_ids=rows_of(batch.step_ids),
        anchor_ids=rows_of(batch.anchor_ids), context_ids=rows_of(batch.context_ids),
        episode_tasks=episodes_of(batch.episode_tasks), episode_won=episodes_of(batch.episode_won),
        planner_mask=rows_of(batch.planner_mask), segment_ids=rows_of(batch.segment_ids),
        blueprint_ids=rows_of(batch.blueprint_ids),
        sampler_logprobs=rows_of(batch.sampler_logprobs),
        action_admitted=rows_of(batch.action_admitted),
    )


def apply_selection(batch: TrainBatch, rows: torch.Tensor, tokens: torch.Tensor) -> TrainBatch:
    """Drop the rows where `rows` (B,) is False and the action tokens where `tokens` (B, T) is
    False (no longer actions, advantage 0). The result has the kept rows only, same width."""
    keep_tokens = batch.action_mask.bool() & tokens
    fields = dict(batch.__dict__)
    fields["action_mask"] = keep_tokens.to(batch.action_mask.dtype)
    fields["advantages"] = batch.advantages * keep_tokens
    idx = rows.nonzero().squeeze(1)
    return TrainBatch(**{name: None if t is None else t[idx] for name, t in fields.items()})


def filtered_rollouts(roll: Callable[[int], RolloutBatch],
                      keep_groups: Callable[[torch.Tensor], torch.Tensor], *, max_rounds: int,
                      num_groups: int, group_size: int, pad_id: int) -> RolloutBatch:
    """Dynamic sampling: `roll(r)` rolls out round r (r = 0, 1, ...); `keep_groups` judges each
    round's (N, G) task rewards; rounds continue until `num_groups` groups are kept or
    `max_rounds` rounds ran. Returns the first `num_groups` kept groups (fewer at the cap).
    When no group at all was kept, the first round is returned as it is: its groups give zero
    group-relative advantages, so the update carries no policy-gradient signal (and nothing
    breaks). The stats cover every round (generation totals add up) plus
    `curriculum/kept_groups` and `curriculum/batch_fill` (= kept / num_groups)."""
    rounds, keeps, kept = [], [], 0
    for r in range(max_rounds):
        batch = roll(r)
        keep = keep_groups(group_rewards(batch, group_size)).bool()
        rounds.append(batch)
        keeps.append(keep)
        kept += int(keep.sum())
        if kept >= num_groups:
            break
    everything = concat_batches(rounds, pad_id)
    keep = torch.cat(keeps)
    keep &= torch.cumsum(keep.long(), 0) <= num_groups
    out = take_groups(everything, keep, group_size) if kept else rounds[0]
    out.stats = {**everything.stats, "curriculum/kept_groups": float(keep.sum()),
                 "curriculum/batch_fill": float(keep.sum()) / num_groups}
    return out


def select_training_data(curriculum, batch: RolloutBatch, train_batch: TrainBatch,
                         entropy: torch.Tensor | None) -> tuple[TrainBatch, dict[str, float]]:
    """Apply a `TrainingSelector` curriculum's row and token choice to `train_batch` (built from
    `batch`); other curricula leave it as it is."""
    if not isinstance(curriculum, TrainingSelector):
        return train_batch, {}
    units = batch.episode_ids if batch.episode_ids is not None else torch.arange(len(batch.tasks))
    rows, tokens, stats = curriculum.select(train_batch.advantages, train_batch.action_mask,
                                            batch.group_ids, units, entropy)
    return apply_selection(train_batch, rows, tokens), stats
