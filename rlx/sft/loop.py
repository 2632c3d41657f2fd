"""The SFT loop: next batch of demonstration rows -> cross-entropy on the action tokens -> step
-> log -> evaluate with the RL rollout -> checkpoint; at the end, export the weights."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from rlx.envs.base import Task
from rlx.rollout.base import Generation
from rlx.rollout.batch import encode_prompt, pack_sequences
from rlx.rollout.logprobs import forward_logprobs
from rlx.sft.demos import row_messages
from rlx.sft.settings import SFTSettings
from rlx.train.checkpoint import save_checkpoint
from rlx.train.evaluate import evaluate
from rlx.train.parallel import trainable_state
from rlx.train.transcripts import transcript_writer
from rlx.utils.seeding import derive_seed, rng_state

EXPORT_DIR = "model"  # <run_dir>/model: the final weights + tokenizer as an HF folder


def tokenize_rows(rows: Sequence[dict[str, Any]], tokenizer) -> list[Generation]:
    """Each row as (prompt ids, response ids + eos): the prompt encoded exactly as the RL
    rollout encodes step prompts (`encode_prompt`), the response as the policy would emit it
    (ending with the tokenizer's eos, where the HF engine stops)."""
    out = []
    for row in rows:
        prompt = encode_prompt(tokenizer, row_messages(row))
        response = tokenizer(row["response"], add_special_tokens=False)["input_ids"]
        out.append(Generation(prompt, [*response, tokenizer.eos_token_id], finished=True))
    return out


def epoch_permutation(num_rows: int, seed: int, epoch: int) -> list[int]:
    order = list(range(num_rows))
    random.Random(derive_seed(seed, "sft-epoch", epoch)).shuffle(order)
    return order


def batch_order(num_rows: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The row indices of optimizer step `step`: epochs of seeded permutations, one after
    another, cut into batches (a resumed run continues with the same rows)."""
    if num_rows < 1:
        raise ValueError("no demonstration rows to train on")
    picked, orders = [], {}
    for k in range(step * batch_size, (step + 1) * batch_size):
        epoch, position = divmod(k, num_rows)
        if epoch not in orders:
            orders[epoch] = epoch_permutation(num_rows, seed, epoch)
        picked.append(orders[epoch][position])
    return picked


def action_token_loss(model: nn.Module, sequences: Sequence[Generation], pad_id: int,
                      device: torch.device, normalizer: int) -> tuple[torch.Tensor, int]:
    """(summed negative log-likelihood of the response tokens / `normalizer`, response tokens).

    The LM head runs on the response positions only (`score_mask`): agent step prompts are
    ~700 tokens against ~35 response tokens, so scoring the prompt would be wasted work."""
    input_ids, attention_mask, action_mask = pack_sequences(sequences, pad_id, device)
    logprobs = forward_logprobs(model, input_ids, attention_mask, score_mask=action_mask.bool()).logprobs
    tokens = int(action_mask.sum())
    return -(logprobs * action_mask).sum() / normalizer, tokens


@dataclass
class SFTRun:
    """Everything an SFT run is made of, built by `rlx.sft.recipe` from the config."""

    model: nn.Module
    tokenizer: Any
    rows: Sequence[dict[str, Any]]
    collect: Callable  # the RL rollout collector, for held-out evaluation
    engine: Any  # the collector's generation engine (synced to the weights before each evaluation)
    eval_tasks: Sequence[Task]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    loggers: Sequence[Any]
    settings: SFTSettings
    device: torch.device
    autocast: Callable[[], AbstractContextManager]
    seed: int
    iterations: int
    run_dir: Path
    start_iteration: int = 0
    sequences: list[Generation] = field(default_factory=list)  # tokenized rows
    should_stop: Callable[[], bool] = lambda: False  # polled between steps (SLURM's signals)


def train_sft(run: SFTRun) -> dict[str, float]:
    """Optimizer steps `run.start_iteration` .. `run.iterations`; returns the last metrics."""
    s, metrics = run.settings, {}
    if not run.sequences:
        run.sequences = tokenize_rows(run.rows, run.tokenizer)
    if s.eval_at_start and run.eval_tasks and run.start_iteration == 0:
        before = run_evaluation(run, derive_seed(run.seed, "eval", "start"), step=0)
        log_all(run, before, 0)
        tqdm.write(evaluation_line("before SFT", before))
    for it in tqdm(range(run.start_iteration, run.iterations), desc="rlx sft", unit="step",
                   initial=run.start_iteration, total=run.iterations, dynamic_ncols=True):
        start = time.perf_counter()
        metrics = sft_step(run, it)
        metrics["perf/time/iteration"] = time.perf_counter() - start
        if run.eval_tasks and due(it, s.eval_every, run.iterations):
            metrics.update(run_evaluation(run, derive_seed(run.seed, "eval", it), step=it + 1))
        log_all(run, metrics, it + 1)
        tqdm.write(f"step {it + 1}/{run.iterations}  loss {metrics['sft/loss']:.4f}  "
                   f"{metrics['perf/time/iteration']:.1f}s"
                   + (f"  {evaluation_line('eval', metrics)}" if "eval/pass@1" in metrics else ""))
        stop = run.should_stop()
        if stop or due(it, s.checkpoint_every, run.iterations):
            save_checkpoint(run.run_dir, it + 1, checkpoint_state(run, it + 1), s.keep_checkpoints)
        if stop:
            tqdm.write(f"rlx: stop requested; checkpoint saved at step {it + 1}")
            return metrics
    export_model(run)
    return metrics


def sft_step(run: SFTRun, it: int) -> dict[str, float]:
    """One optimizer step on the next `batch_size` rows, accumulated over micro-batches."""
    s, started = run.settings, time.perf_counter()
    chosen = [run.sequences[i] for i in batch_order(len(run.sequences), s.batch_size, run.seed, it)]
    chosen.sort(key=lambda g: len(g.prompt_ids) + len(g.response_ids))  # less padding per micro-batch
    normalizer = max(1, sum(len(g.response_ids) for g in chosen))
    run.model.train()
    run.optimizer.zero_grad(set_to_none=True)
    total, tokens, seen = 0.0, 0, 0
    for start in range(0, len(chosen), s.micro_batch_size):
        part = chosen[start : start + s.micro_batch_size]
        with run.autocast():
            loss, n = action_token_loss(run.model, part, run.tokenizer.pad_token_id, run.device, normalizer)
        loss.backward()
        total, tokens = total + loss.item(), tokens + n
        seen += sum(len(g.prompt_ids) + len(g.response_ids) for g in part)
    params = [p for p in run.model.parameters() if p.requires_grad]
    grad_norm = torch.nn.utils.clip_grad_norm_(params, s.max_grad_norm)
    run.optimizer.step()
    run.scheduler.step()
    return {"sft/loss": total, "sft/action_tokens": float(tokens), "sft/grad_norm": float(grad_norm),
            "sft/epoch": (it + 1) * s.batch_size / len(run.sequences),
            "policy/lr": run.scheduler.get_last_lr()[0], "perf/train_tokens": float(seen),
            "perf/update_tokens_per_s": seen / max(time.perf_counter() - started, 1e-9),
            "train/iteration": it + 1}


def run_evaluation(run: SFTRun, seed: int, step: int) -> dict[str, float]:
    """Held-out evaluation of the current weights (an engine with its own copy, vLLM, is synced
    first; HF's engine samples from `run.model` itself), with `trainer.eval_transcripts`
    episodes written to `<run_dir>/transcripts` (`rlx.train.transcripts`)."""
    run.engine.sync_weights(run.model)
    run.model.eval()
    with run.autocast(), torch.no_grad():
        return evaluate(run.collect, run.eval_tasks, run.settings.eval_samples, seed=seed,
                        on_batch=transcript_writer(run.run_dir, step, run.tokenizer,
                                                   run.settings.eval_transcripts))


def evaluation_line(label: str, m: dict[str, float]) -> str:
    fmt = m.get("eval/env/format_valid_ratio", m["eval/format_ok"])
    return f"{label}: format-valid {fmt:.3f}  success {m['eval/pass@1']:.3f}"


def log_all(run: SFTRun, metrics: dict[str, float], step: int) -> None:
    for logger in run.loggers:
        logger.log(metrics, step=step)


def due(it: int, every: int, iterations: int) -> bool:
    """True every `every` steps and always at the last one (`every=0`: only the last)."""
    return it + 1 == iterations or (every > 0 and (it + 1) % every == 0)


def checkpoint_state(run: SFTRun, step: int) -> dict[str, Any]:
    return {"step": step, "model": trainable_state(run.model), "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(), "rng": rng_state()}


def export_model(run: SFTRun) -> Path:
    """Save the weights (LoRA merged) and the tokenizer as an HF folder `<run_dir>/model`."""
    out = Path(run.run_dir) / EXPORT_DIR
    model = run.model
    if hasattr(model, "merge_and_unload"):  # peft
        import copy

        model = copy.deepcopy(model).merge_and_unload()
    model.save_pretrained(out)
    run.tokenizer.save_pretrained(out)
    return out
