"""Multi-turn rollouts: G episodes per task played in an EnvPool, one batch row per policy step.

Per-step samples (the data model GiGPO/HGPO are defined on): each row is the prompt of one
step (task + recent history + current observation) and the policy's response to it; the
step's environment reward sits on the row's last action token. Rows carry the episode, step
index, anchor-state and history-context keys that step-level estimators group by.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from rlx.agent.prompt import ParsedAction, observation_lines, parse_action, step_messages
from rlx.algos.step_advantages import context_ids, state_id
from rlx.envs.base import Score, Task
from rlx.envs.text_env import Step
from rlx.rollout.base import Generation
from rlx.rollout.batch import RolloutBatch, encode_prompt, pack_sampler_logprobs, pack_sequences
from rlx.utils.seeding import derive_seed


@dataclass(frozen=True)
class AgentSettings:
    """How multi-turn episodes are played (conf/agent/); single-turn environments ignore it.

    role: the first line of every step prompt. history_length: (observation, action) pairs
    shown (k). max_steps: episode step limit (truncation). require_think: a response without
    <think></think> is an invalid action. action_format: `tags` sends the text of the first
    <action></action> (lowercased), `raw` the whole response (e.g. a program). sample_mode: `step` trains on one row per
    policy step (prompt = task + last k steps, the GiGPO/HGPO data model); `trajectory` plays
    each episode as one growing chat (every earlier turn in context) and trains on one row per
    episode with only the policy's tokens in the action mask. num_workers: environment worker processes (at most
    the CPUs given to the job). step_timeout_s / reset_timeout_s: a worker slower than this is
    declared hung, its episodes end flagged and it is replaced.
    """

    role: str = "You are an expert autonomous agent operating in a text environment."
    history_length: int = 2
    max_steps: int = 50
    require_think: bool = True
    action_format: Literal["tags", "raw"] = "tags"
    sample_mode: Literal["step", "trajectory"] = "step"
    num_workers: int = 1
    step_timeout_s: float = 60.0
    reset_timeout_s: float = 300.0

    def player(self):
        """The function that plays episodes with these settings (`play_episodes`); the
        hierarchical agent's settings return their own."""
        return play_episodes


@dataclass
class StepRow:
    episode: int
    step: int
    generation: Generation
    text: str
    action: str
    format_ok: bool
    result: Step
    state_key: str


def play_episodes(engine, tokenizer, pool, tasks: Sequence[Task], group_size: int, *, seed: int,
                  settings: AgentSettings) -> RolloutBatch:
    """Play `group_size` episodes of each task (copies share the reset seed) and batch their steps."""
    episodes = [t for t in tasks for _ in range(group_size)]
    started = time.perf_counter()
    observations = pool.reset([(t, derive_seed(seed, "reset", t.uid)) for t in episodes])
    env_time = time.perf_counter() - started
    history: list[list[tuple[str, str]]] = [[] for _ in episodes]
    done = [False] * len(episodes)
    rows: list[StepRow] = []
    chats: dict[int, list[int]] = {}                       # trajectory mode: each episode's tokens
    continuations: dict[tuple[int, int], list[int]] = {}   # (episode, turn) -> tokens after the response
    generation_stats = defaultdict(float)
    for turn in range(settings.max_steps):
        active = [e for e in range(len(episodes)) if not done[e]]
        if not active:
            break
        if turn == 0 or settings.sample_mode == "step":
            prompts = [encode_prompt(tokenizer, step_messages(
                role=settings.role, instruction=episodes[e].prompt, observation=observations[e],
                history=history[e], step_index=turn, history_length=settings.history_length,
                require_think=settings.require_think)) for e in active]
            if turn == 0:
                chats = {e: list(p) for e, p in zip(active, prompts)}
        else:
            prompts = [chats[e] for e in active]
        generations = engine.generate(prompts, seed=derive_seed(seed, "turn", turn))
        for name, value in engine.last_stats.metrics().items():
            generation_stats[name] += value
        texts = tokenizer.batch_decode([g.response_ids for g in generations], skip_special_tokens=True)
        parsed = [parse_action(t, settings.require_think) if settings.action_format == "tags"
                  else ParsedAction(t, bool(t.strip())) for t in texts]
        started = time.perf_counter()
        results = pool.step([p.action for p in parsed], episode_ids=active)
        env_time += time.perf_counter() - started
        for e, g, text, p, step in zip(active, generations, texts, parsed, results):
            state = observations[e].state_key or observations[e].text
            rows.append(StepRow(e, turn, g, text, p.action, p.valid, step, state))
            history[e].append((observations[e].text, p.action))
            observations[e] = step.observation
            done[e] = step.terminated or step.truncated
            if settings.sample_mode == "trajectory" and not done[e]:
                chats[e] += g.response_ids
                cont = next_turn_ids(tokenizer, followup_text(step.observation, settings.require_think),
                                     g.response_ids)
                continuations[(e, turn)] = cont
                chats[e] += cont
    if settings.sample_mode == "trajectory":
        batch = _trajectory_batch(rows, episodes, group_size, tokenizer, generation_stats,
                                  env_time, continuations)
    else:
        batch = _batch(rows, episodes, group_size, tokenizer, generation_stats, env_time,
                       settings.history_length)
    batch.stats.update(pool.stats())
    return batch


def followup_text(observation, require_think: bool) -> str:
    """The user turn after an action in trajectory mode: the new observation and what to do."""
    parts = observation_lines(observation)
    how = "Reason inside <think> </think> tags, then give " if require_think else "Give "
    parts.append(how + "exactly one action inside <action> </action> tags.")
    return "\n".join(parts)


SENTINEL = "\x00rlx-response\x00"


def next_turn_ids(tokenizer, user_text: str, response_ids: Sequence[int]) -> list[int]:
    """Tokens that follow a sampled response in the chat: the end of the assistant turn, the
    next user turn and the generation prompt, rendered by the chat template around a sentinel
    (so the sampled response tokens are kept exactly, never re-tokenised). When the response
    already ends with the template's end-of-turn token, it is not repeated."""
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "u"}, {"role": "assistant", "content": SENTINEL},
         {"role": "user", "content": user_text}], add_generation_prompt=True, tokenize=False)
    ids = tokenizer(text.split(SENTINEL, 1)[1], add_special_tokens=False)["input_ids"]
    if response_ids and ids and response_ids[-1] == ids[0]:
        ids = ids[1:]
    return ids


def _trajectory_batch(rows: list[StepRow], episodes: list[Task], group_size: int, tokenizer,
                      generation_stats: dict, env_time: float,
                      continuations: dict[tuple[int, int], list[int]]) -> RolloutBatch:
    """One row per episode: first prompt, then each response (action tokens) followed by the
    environment's next turn (not actions); the episode return sits on the last action token.
    The sampler's log-probs (if the engine reports them) sit on the response tokens only."""
    tokens: list[list[int]] = [[] for _ in episodes]
    acting: list[list[bool]] = [[] for _ in episodes]
    with_logprobs = bool(rows) and all(r.generation.logprobs is not None for r in rows)
    sampled: list[list[float]] = [[] for _ in episodes]  # sampler log-prob per token (0: not sampled)
    won, errored = episodes_won(rows, len(episodes)), errored_episodes(rows)
    ret = [0.0] * len(episodes)
    valid, finished = [True] * len(episodes), [True] * len(episodes)
    admitted = [True] * len(episodes)
    for r in rows:  # turn order, so each episode's steps come in order
        e, g = r.episode, r.generation
        if not tokens[e]:
            tokens[e], acting[e] = list(g.prompt_ids), [False] * len(g.prompt_ids)
            sampled[e] = [0.0] * len(g.prompt_ids)
        tokens[e] += g.response_ids
        acting[e] += [e not in errored] * len(g.response_ids)
        if with_logprobs and len(g.logprobs) != len(g.response_ids):
            raise ValueError(f"episode {e} turn {r.step}: {len(g.logprobs)} sampler log-probs "
                             f"for {len(g.response_ids)} response tokens")
        sampled[e] += list(g.logprobs) if with_logprobs else [0.0] * len(g.response_ids)
        cont = continuations.get((e, r.step), [])
        tokens[e] += cont
        acting[e] += [False] * len(cont)
        sampled[e] += [0.0] * len(cont)
        ret[e] += r.result.reward
        valid[e] &= r.format_ok
        admitted[e] &= r.result.action_valid
        finished[e] &= g.finished
    width = max(len(t) for t in tokens)
    input_ids = torch.full((len(episodes), width), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(episodes), width), dtype=torch.long)
    action_mask = torch.zeros((len(episodes), width), dtype=torch.bool)
    sampler_logprobs = torch.zeros((len(episodes), width)) if with_logprobs else None
    for e, (t, a) in enumerate(zip(tokens, acting)):
        input_ids[e, : len(t)] = torch.tensor(t)
        attention_mask[e, : len(t)] = 1
        action_mask[e, : len(a)] = torch.tensor(a, dtype=torch.bool)
        if sampler_logprobs is not None:
            sampler_logprobs[e, : len(t)] = torch.tensor(sampled[e]) * action_mask[e, : len(t)]
    return RolloutBatch(
        tasks=list(episodes),
        group_ids=torch.arange(len(episodes)) // group_size,
        input_ids=input_ids, attention_mask=attention_mask, action_mask=action_mask,
        completions=[tokenizer.decode(t) for t in tokens],
        scores=[Score(reward=r, correct=w, format_ok=v, parsed=None)
                for r, w, v in zip(ret, won, valid)],
        finished=finished, seq_rewards=torch.tensor(ret, dtype=torch.float32),
        episode_tasks=list(episodes), episode_won=won,
        stats=rollout_stats(rows, episodes, won, generation_stats, env_time),
        sampler_logprobs=sampler_logprobs,
        action_admitted=torch.tensor(admitted, dtype=torch.bool),
    )


def _batch(rows: list[StepRow], episodes: list[Task], group_size: int, tokenizer,
           generation_stats: dict, env_time: float, history_length: int) -> RolloutBatch:
    input_ids, attention_mask, action_mask = pack_sequences([r.generation for r in rows],
                                                            tokenizer.pad_token_id)
    errored = errored_episodes(rows)
    for i, r in enumerate(rows):
        if r.episode in errored:
            action_mask[i] = False
    sampler_logprobs = pack_sampler_logprobs([r.generation for r in rows], input_ids.shape[1])
    if sampler_logprobs is not None:
        sampler_logprobs *= action_mask  # errored episodes' rows carry no actions
    won = episodes_won(rows, len(episodes))
    keys: list[list[str]] = [[] for _ in episodes]
    actions: list[list[str]] = [[] for _ in episodes]
    for r in rows:  # rows are in turn order, so each episode's steps come in order
        keys[r.episode].append(r.state_key)
        actions[r.episode].append(r.action)
    contexts = [context_ids(k, history_length, a) for k, a in zip(keys, actions)]
    scores = [Score(reward=r.result.reward, correct=won[r.episode], format_ok=r.format_ok,
                    parsed=r.text) for r in rows]
    return RolloutBatch(
        tasks=[episodes[r.episode] for r in rows],
        group_ids=torch.tensor([r.episode // group_size for r in rows], dtype=torch.long),
        input_ids=input_ids, attention_mask=attention_mask, action_mask=action_mask,
        completions=[r.text for r in rows], scores=scores,
        finished=[r.generation.finished for r in rows],
        seq_rewards=torch.tensor([r.result.reward for r in rows], dtype=torch.float32),
        episode_ids=torch.tensor([r.episode for r in rows], dtype=torch.long),
        step_ids=torch.tensor([r.step for r in rows], dtype=torch.long),
        anchor_ids=torch.tensor([state_id(r.state_key) for r in rows], dtype=torch.long),
        context_ids=torch.tensor([contexts[r.episode][r.step] for r in rows], dtype=torch.long),
        action_admitted=torch.tensor([r.result.action_valid for r in rows], dtype=torch.bool),
        episode_tasks=list(episodes), episode_won=won,
        stats=rollout_stats(rows, episodes, won, generation_stats, env_time),
        sampler_logprobs=sampler_logprobs,
    )


def episodes_won(rows: Sequence[StepRow], num_episodes: int) -> list[bool]:
    won = [False] * num_episodes
    for r in rows:
        won[r.episode] |= r.result.won
    return won


def errored_episodes(rows: Sequence[StepRow]) -> set[int]:
    """Episodes cut by a crashed or hung environment worker. That is not the policy's doing:
    their rows stay in the batch (for the logs) but carry no action tokens, so no gradient."""
    return {r.episode for r in rows if "error" in r.result.info}


def rollout_stats(rows: Sequence[StepRow], episodes: Sequence[Task], won: Sequence[bool],
                  generation_stats: dict, env_time: float) -> dict[str, float]:
    """Generation totals over all turns, environment time and rate, and episode metrics."""
    tokens, seconds = generation_stats.get("perf/generation_tokens", 0.0), generation_stats.get("perf/generation_s", 0.0)
    return {**generation_stats, "perf/generation_tokens_per_s": tokens / max(seconds, 1e-9),
            "perf/time/env": env_time, "env/steps_per_s": len(rows) / max(env_time, 1e-9),
            **episode_metrics(rows, episodes, won)}


def episode_metrics(rows: Sequence[StepRow], episodes: Sequence[Task], won: Sequence[bool]) -> dict:
    """success_rate overall and per task type, episode length, valid-action ratios."""
    lengths = [0] * len(episodes)
    for r in rows:
        lengths[r.episode] += 1
    by_type: dict[str, list[bool]] = defaultdict(list)
    for task, w in zip(episodes, won):
        by_type[task.task_type].append(w)
    metrics = {
        "env/success_rate": sum(won) / len(won),
        "env/episode_length": sum(lengths) / len(lengths),
        "env/format_valid_ratio": sum(r.format_ok for r in rows) / max(len(rows), 1),
        "env/action_valid_ratio": sum(r.result.action_valid for r in rows) / max(len(rows), 1),
        "env/truncated": sum(1 for r in rows if r.result.truncated) / len(episodes),
    }
    metrics.update({f"env/{t}_success_rate": sum(w) / len(w) for t, w in sorted(by_type.items())})
    return metrics
