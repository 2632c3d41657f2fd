"""What the 2-process tests run, in one process (the reference) and in each of 2 gloo ranks.

Every function here is deterministic given its arguments, so the reference and the ranks
build identical tiny models and identical global batches.
"""

from __future__ import annotations

import copy
import socket
import zlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from rlx import distributed
from rlx.algos.advantages import grpo, reinforce_pp
from rlx.algos.losses import ppo_clip
from rlx.algos.objective import Objective
from rlx.distributed import ProcessLayout
from rlx.envs.base import Score, Task
from rlx.models.tiny import build_tiny
from rlx.models.value_head import ValueHead
from rlx.rollout.logprobs import forward_logprobs
from rlx.train.loop import compute_advantages
from rlx.train.parallel import (DataParallel, full_state, load_tensors, load_trainable_state,
                                shard_optimizer_state, trainable_state)
from rlx.rollout.batch import RolloutBatch
from rlx.train.rollout import token_rewards
from rlx.train.sharded_collect import shard_collect
from rlx.train.update import TrainBatch, ppo_update, score_tokens

CPU = torch.device("cpu")
TASKS = [Task(uid=f"task-{i}", prompt=f"What is {i} plus 1?", answer=str(i + 1)) for i in range(4)]
GROUP_SIZE = 3


@dataclass(frozen=True)
class Case:
    """One `ppo_update` configuration (always 2 epochs over a 12-row batch)."""

    agg: str
    minibatches: int
    micro_batch_size: int
    max_grad_norm: float
    kl_coef: float = 0.0
    entropy_coef: float = 0.0
    value_head: bool = False


CASES = {
    # 6-row mini-batches: 3 rows per rank in micro-batches of 2 + 1
    "token_mean": Case("token_mean", minibatches=2, micro_batch_size=2, max_grad_norm=1.0),
    # 3-row mini-batches: 2 + 1 rows per rank (FSDP pads rank 1 with a filler pass); gradients
    # clipped; KL, entropy and value terms on
    "seq_mean": Case("seq_mean_token_mean", minibatches=4, micro_batch_size=1, max_grad_norm=0.05,
                     kl_coef=0.05, entropy_coef=0.01, value_head=True),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- rollouts and advantages

def fake_collect(tasks, group_size, *, seed) -> RolloutBatch:
    """G rows per task, fixed by the task alone (not the seed): prompt tokens from the uid,
    response lengths 1..7, reward 1 on some rows. Widths differ with the tasks given."""
    rows, rewards = [], []
    for t in tasks:
        base = zlib.crc32(t.uid.encode())
        for g in range(group_size):
            prompt = [3 + (base + k) % 300 for k in range(2 + base % 4)]
            response = [3 + (base * (g + 2) + k) % 300 for k in range(1 + (base + g) % 7)]
            rows.append((prompt, response))
            rewards.append(float((base + g) % 3 == 0))
    width = max(len(p) + len(r) for p, r in rows)
    input_ids = torch.zeros(len(rows), width, dtype=torch.long)
    attention_mask = torch.zeros(len(rows), width, dtype=torch.long)
    action_mask = torch.zeros(len(rows), width, dtype=torch.bool)
    for i, (p, r) in enumerate(rows):
        input_ids[i, : len(p) + len(r)] = torch.tensor(p + r)
        attention_mask[i, : len(p) + len(r)] = 1
        action_mask[i, len(p): len(p) + len(r)] = True
    return RolloutBatch(
        tasks=[t for t in tasks for _ in range(group_size)],
        group_ids=torch.arange(len(tasks)).repeat_interleave(group_size),
        input_ids=input_ids, attention_mask=attention_mask, action_mask=action_mask,
        completions=[""] * len(rows),
        scores=[Score(reward=r, correct=r > 0, format_ok=True, parsed=None) for r in rewards],
        finished=[True] * len(rows), seq_rewards=torch.tensor(rewards),
        stats={"perf/generation_tokens": float(action_mask.sum())})


def rollout_case(parallel: DataParallel, cache_dir: str) -> dict:
    """The global batch, its log-probs and two batch-normalised estimators' advantages."""
    collect = fake_collect if not parallel.layout.distributed else \
        shard_collect(fake_collect, parallel, pad_id=0)
    batch = collect(TASKS, GROUP_SIZE, seed=11)
    model = build_tiny(cache_dir=cache_dir).model
    logprobs, _, entropy = score_tokens(
        model, batch.input_ids, batch.attention_mask, micro_batch_size=4, chunk_size=16,
        temperature=1.0, device=CPU, with_entropy=True, parallel=parallel)
    rewards = token_rewards(batch.seq_rewards, batch.action_mask)
    rpp, _ = compute_advantages(partial(reinforce_pp, gamma=0.9), batch, rewards, None, None)
    lite, _ = compute_advantages(partial(grpo, mean="group", std="batch"), batch, rewards, None, None)
    return {"uids": [t.uid for t in batch.tasks], "group_ids": batch.group_ids,
            "input_ids": batch.input_ids, "action_mask": batch.action_mask, "logprobs": logprobs,
            "entropy": entropy, "reinforce_pp": rpp, "lite_ppo": lite}


# ---------------------------------------------------------------- the update

def fixed_batch(model, rows: int = 12, width: int = 18) -> TrainBatch:
    """A random global batch (seeded) with old/ref log-probs near the model's own, one row
    without action tokens, advantages constant per row, returns and old values."""
    g = torch.Generator().manual_seed(1)
    input_ids = torch.randint(3, 380, (rows, width), generator=g)
    attention_mask = torch.zeros(rows, width, dtype=torch.long)
    action_mask = torch.zeros(rows, width, dtype=torch.bool)
    for i in range(rows):
        prompt = int(torch.randint(2, 6, (1,), generator=g))
        response = 0 if i == 3 else int(torch.randint(1, width - prompt + 1, (1,), generator=g))
        attention_mask[i, : prompt + response] = 1
        action_mask[i, prompt: prompt + response] = True
    with torch.no_grad():
        logp = forward_logprobs(model, input_ids, attention_mask).logprobs
    mask = action_mask.float()
    noise = lambda scale: scale * torch.randn(rows, width, generator=g)  # noqa: E731
    return TrainBatch(
        input_ids, attention_mask, action_mask,
        old_logprobs=(logp + noise(0.1)) * mask,
        advantages=torch.randn(rows, 1, generator=g) * mask,
        returns=torch.randn(rows, width, generator=g) * mask,
        ref_logprobs=(logp + noise(0.05)) * mask,
        old_values=noise(0.1) * mask)


def build_update(case: Case, parallel: DataParallel, cache_dir: str, fsdp: bool):
    """(model the trainer calls, causal LM, value head, optimizer, objective, batch)."""
    torch.manual_seed(0)
    model = build_tiny(cache_dir=cache_dir).model
    value_head = ValueHead(model.config.hidden_size) if case.value_head else None
    batch = fixed_batch(model)
    called = model
    if fsdp:
        from rlx.train.fsdp import shard_model

        called = shard_model(model, value_head, parallel.layout, CPU)
    params = [p for p in model.parameters() if p.requires_grad]
    params += list(value_head.parameters()) if value_head is not None else []
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    objective = Objective(policy=partial(ppo_clip, agg=case.agg), kl_coef=case.kl_coef,
                          entropy_coef=case.entropy_coef)
    return called, value_head, optimizer, objective, batch


def run_update(case, called, value_head, optimizer, objective, batch, parallel, seed: int) -> dict:
    stats = ppo_update(
        called, value_head, optimizer, objective, batch, epochs=2, minibatches=case.minibatches,
        micro_batch_size=case.micro_batch_size, max_grad_norm=case.max_grad_norm, chunk_size=16,
        temperature=1.0, device=CPU, generator=torch.Generator().manual_seed(seed), parallel=parallel)
    state = {"params": trainable_state(called),
             "value_head": full_state(value_head.state_dict()) if value_head is not None else None,
             "optimizer": full_state(optimizer.state_dict()), "stats": stats}
    return copy.deepcopy(state)  # on the CPU these are the live tensors


def update_case(case: Case, parallel: DataParallel, cache_dir: str, fsdp: bool = False) -> dict:
    """Two `ppo_update` calls (two iterations) on the fixed batch; the state after each."""
    called, value_head, optimizer, objective, batch = build_update(case, parallel, cache_dir, fsdp)
    first = run_update(case, called, value_head, optimizer, objective, batch, parallel, seed=5)
    second = run_update(case, called, value_head, optimizer, objective, batch, parallel, seed=6)
    return {"first": first, "second": second}


def resumed_update(case: Case, parallel: DataParallel, cache_dir: str, state: dict) -> dict:
    """A fresh FSDP model and optimizer loaded from the single-process state after the first
    update (a checkpoint from another world size), then the second update."""
    called, value_head, optimizer, objective, batch = build_update(case, parallel, cache_dir, True)
    load_trainable_state(called, state["params"])
    if value_head is not None:
        load_tensors(value_head.state_dict(keep_vars=True), state["value_head"])
    optimizer.load_state_dict(shard_optimizer_state(state["optimizer"], optimizer))
    return run_update(case, called, value_head, optimizer, objective, batch, parallel, seed=6)


# ---------------------------------------------------------------- the ranks

def rank_main(rank: int, world: int, port: int, out_dir: str, cache_dir: str) -> None:
    """One gloo rank: every case in DDP and FSDP mode; results saved to out_dir/rank<r>.pt."""
    torch.set_num_threads(1)
    layout = ProcessLayout(rank=rank, world_size=world, master_port=port, source="manual")
    distributed.start(layout, CPU, timeout_s=120)
    try:
        ddp = DataParallel(layout)
        fsdp = DataParallel(layout, lockstep=True, reduces_grads=True)
        single = torch.load(Path(out_dir) / "single.pt", weights_only=False)
        mine = torch.tensor([rank + 1.0, 10.0 * rank])
        results = {"collectives": {
            "sum": distributed.all_reduce_sum(mine, layout),
            "mean": distributed.all_reduce_mean([rank + 1.0], layout),
            "max": distributed.all_reduce_max(rank + 5, layout),
            "objects": distributed.all_gather_objects({"rank": rank}, layout)}}
        results["rollout"] = rollout_case(ddp, cache_dir)
        for name, case in CASES.items():
            results[f"ddp/{name}"] = update_case(case, ddp, cache_dir)
            results[f"fsdp/{name}"] = update_case(case, fsdp, cache_dir, fsdp=True)
            results[f"fsdp_resumed/{name}"] = resumed_update(
                case, fsdp, cache_dir, single[f"update/{name}"]["first"])
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        distributed.stop(layout)
