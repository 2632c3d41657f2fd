"""The policy update: log-prob passes and PPO epochs over mini-batches with gradient accumulation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from rlx.algos.losses import loss_normalizers
from rlx.rollout.logprobs import forward_logprobs
from rlx.train.parallel import DataParallel, full_tensor


@dataclass
class TrainBatch:
    """Everything the update reads, (B,T) on CPU; `old_values`/`ref_logprobs` may be None.
    `old_logprobs` None: a strictly on-policy update (one epoch, one mini-batch) takes them from
    its own forward, detached (`ppo_update`), instead of a separate scoring pass.
    `entropy_ref`: each action token's historical entropy (EPO's smoothing), else None.
    `sampler_logprobs`: the sampler's own log-probs of the action tokens (None: not reported)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    action_mask: torch.Tensor
    old_logprobs: torch.Tensor | None
    advantages: torch.Tensor
    returns: torch.Tensor
    ref_logprobs: torch.Tensor | None = None
    old_values: torch.Tensor | None = None
    entropy_ref: torch.Tensor | None = None
    value_mask: torch.Tensor | None = None
    sampler_logprobs: torch.Tensor | None = None

    def rows(self, idx: torch.Tensor, device: torch.device) -> "TrainBatch":
        """Rows `idx`, trimmed to the columns any of them uses, moved to `device`."""
        cols = used_columns(self.attention_mask[idx])
        return TrainBatch(**{
            name: None if t is None else t[idx][:, cols].to(device)
            for name, t in self.__dict__.items()
        })


def used_columns(attention_mask: torch.Tensor) -> slice:
    """The columns any of these (B,T) rows uses: rows hold real tokens in one contiguous run."""
    used = attention_mask.any(dim=0).nonzero().squeeze(1)
    return slice(int(used.min()), int(used.max()) + 1) if used.numel() else slice(0, 0)


@torch.no_grad()
def score_tokens(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, *,
                 micro_batch_size: int, chunk_size: int, temperature: float, device: torch.device,
                 value_head: nn.Module | None = None, with_entropy: bool = False,
                 parallel: DataParallel = DataParallel(),
                 ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Per-token log-probs (and values, entropies) of a batch without gradients, (B,T) on CPU.
    With several ranks each scores its share of the rows and all get the whole result."""
    was_training = model.training
    model.eval()
    logprobs = torch.zeros(input_ids.shape, dtype=torch.float32)
    values = None
    if value_head is not None:  # (B,T), or (B,T,H) for a head with several values per token
        heads = value_head.heads
        values = torch.zeros((*input_ids.shape, *((heads,) if heads > 1 else ())), dtype=torch.float32)
    entropy = torch.zeros(input_ids.shape, dtype=torch.float32) if with_entropy else None
    rows = torch.arange(input_ids.shape[0])
    for idx, real in parallel.micro_batches(rows, micro_batch_size):
        cols = used_columns(attention_mask[idx])
        out = forward_logprobs(model, input_ids[idx][:, cols].to(device),
                               attention_mask[idx][:, cols].to(device), chunk_size=chunk_size,
                               temperature=temperature, value_head=value_head,
                               with_entropy=with_entropy)
        if not real:  # a filler pass that keeps FSDP ranks in step
            continue
        logprobs[idx, cols] = out.logprobs.float().cpu()
        if values is not None:
            values[idx, cols] = out.values.float().cpu()
        if entropy is not None:
            entropy[idx, cols] = out.entropy.float().cpu()
    model.train(was_training)
    if parallel.layout.distributed:
        mine = parallel.share(rows)
        logprobs, values, entropy = (None if t is None else parallel.gather_rows(t[mine])
                                     for t in (logprobs, values, entropy))
    return logprobs, values, entropy


def ppo_update(model: nn.Module, value_head: nn.Module | None, optimizer: torch.optim.Optimizer,
               objective, batch: TrainBatch, *, epochs: int, minibatches: int, micro_batch_size: int,
               max_grad_norm: float, chunk_size: int, temperature: float, device: torch.device,
               generator: torch.Generator,
               autocast: Callable[[], AbstractContextManager] = nullcontext,
               parallel: DataParallel = DataParallel()) -> dict[str, float]:
    """`epochs` passes; each shuffles the batch into `minibatches` optimizer steps whose
    micro-batches accumulate gradients so that the step equals one full-minibatch loss.

    Several ranks: all hold the same batch and draw the same permutation; each accumulates
    its share of every mini-batch (losses normalised by the whole mini-batch's counts), the
    gradients are summed over ranks before clipping, so every rank takes the same step.

    `batch.old_logprobs` None (one pass): only for epochs == minibatches == 1, where the weights
    that sampled are the weights of this forward, so old log-probs = its own log-probs, detached
    (ratio exactly 1, as a separate scoring pass would give up to float noise); the logged
    policy/entropy is then this forward's token-mean entropy too."""
    one_pass = batch.old_logprobs is None
    if one_pass and (epochs, minibatches) != (1, 1):
        raise ValueError("old log-probs from the update's own forward need ppo_epochs == minibatches == 1")
    params = [p for p in optimizer.param_groups[0]["params"]]
    sums: dict[str, float] = defaultdict(float)
    grad_norms = 0.0
    n = batch.input_ids.shape[0]
    with_entropy = objective.entropy_coef > 0 or one_pass
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for mb in order.chunk(minibatches):
            optimizer.zero_grad(set_to_none=True)
            num_tokens, num_seqs = loss_normalizers(batch.action_mask[mb])
            num_value_tokens = (None if batch.value_mask is None
                                else batch.value_mask[mb].sum(dim=(0, 1)).clamp(min=1))
            for idx, real in parallel.micro_batches(mb, micro_batch_size):
                part = batch.rows(idx, device)
                with autocast():
                    scored = part.action_mask.bool()  # the LM head runs on action tokens only
                    out = forward_logprobs(model, part.input_ids, part.attention_mask,
                                           chunk_size=chunk_size, temperature=temperature,
                                           with_entropy=with_entropy, value_head=value_head,
                                           score_mask=scored)
                    old = out.logprobs.detach() if one_pass else part.old_logprobs
                    # elsewhere new = old (ratio 1, no gradient) instead of 0, so no term
                    # outside the action mask can overflow before it is masked out
                    new = out.logprobs if one_pass else torch.where(scored, out.logprobs, old)
                    loss, stats = objective(
                        new, old, part.advantages, part.action_mask,
                        ref_logprobs=part.ref_logprobs, entropy=out.entropy, values=out.values,
                        old_values=part.old_values, returns=part.returns,
                        entropy_ref=part.entropy_ref, sampler_logprobs=part.sampler_logprobs,
                        num_tokens=num_tokens, num_seqs=num_seqs,
                        value_mask=part.value_mask, num_value_tokens=num_value_tokens,
                    )
                if not real:  # a filler pass that keeps FSDP ranks in step: no gradient
                    (loss * 0.0).backward()
                    continue
                loss.backward()
                for k, v in stats.items():
                    sums[k] += float(v)  # each is this micro-batch's share of the mini-batch value
            parallel.sum_grads(params)
            grad_norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            optimizer.step()
            grad_norms += float(full_tensor(grad_norm))
    steps = epochs * minibatches
    stats = {k: v / steps for k, v in parallel.sum_stats(sums).items()}
    if one_pass:  # what the scoring pass would have logged
        stats["policy/entropy"] = stats["loss/entropy"]
    return {**stats, "policy/grad_norm": grad_norms / steps}
