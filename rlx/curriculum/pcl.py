"""Prompt Curriculum Learning (Gao et al. 2025, arXiv 2510.01135): a value model predicts each
prompt's pass rate under the current policy and picks intermediate-difficulty prompts from a
larger candidate pool, without rolling the candidates out.

Each iteration: draw a pool of `pool_factor` x n candidate tasks (uniform epoch order), predict
p_hat(x) = sigmoid(V(phi(x))), train on the n with p_hat nearest `target` (0.5: the pass rate
with the largest expected squared group-relative advantage, p(1 - p)); after the rollouts, fit V
to the observed group pass rates of those n prompts (`value_steps` Adam steps of binary cross-
entropy with the pass rate as soft label, minimised by E[correct | x], like the paper's MSE).

Features phi(x) (our choice): the policy's own last hidden states over the task prompt's tokens
(without chat template; the template and answer-format text are the same for every task),
mean-pooled and detached. They are recomputed from the current policy for every pool, so the
value model sees how the policy represents the prompt now; V itself is a small MLP
(LayerNorm -> Linear -> GELU -> Linear) on the CPU. The features cost one forward pass over
the pool's prompts, no generation (the paper's 12.1x / 16.9x speed-up over rollout-based
filtering comes from that).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rlx.curriculum.pass_rates import group_pass_counts
from rlx.curriculum.uniform import UniformCurriculum
from rlx.envs.base import Score, Task
from rlx.rollout.logprobs import causal_lm_parts, position_ids_from_mask
from rlx.utils.seeding import derive_seed


class PassRateModel(nn.Module):
    """V: features (N, H) -> pass-rate logits (N,)."""

    def __init__(self, in_features: int, hidden_size: int):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(in_features, elementwise_affine=False),
                                 nn.Linear(in_features, hidden_size), nn.GELU(),
                                 nn.Linear(hidden_size, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)


@torch.no_grad()
def prompt_features(model: nn.Module, tokenizer, prompts: Sequence[str], *, max_tokens: int,
                    batch_size: int) -> torch.Tensor:
    """(N, H) float32 on CPU: the mean over each prompt's tokens of the policy's last hidden
    state (after the final norm). Prompts are cut to `max_tokens` tokens."""
    body, _ = causal_lm_parts(model)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(prompts), batch_size):
        ids = [tokenizer(p, add_special_tokens=False)["input_ids"][:max_tokens] or
               [tokenizer.pad_token_id] for p in prompts[start: start + batch_size]]
        width = max(map(len, ids))
        input_ids = torch.full((len(ids), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, t in enumerate(ids):
            input_ids[row, : len(t)] = torch.tensor(t)
            mask[row, : len(t)] = 1
        input_ids, mask = input_ids.to(device), mask.to(device)
        hidden = body(input_ids=input_ids, attention_mask=mask,
                      position_ids=position_ids_from_mask(mask), use_cache=False).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        out.append(((hidden * weights).sum(1) / weights.sum(1)).float().cpu())
    model.train(was_training)
    return torch.cat(out)


def nearest_to_target(predicted: torch.Tensor, n: int, target: float) -> torch.Tensor:
    """Indices (n,) of the n predictions closest to `target`, ties in pool order."""
    return torch.argsort((predicted - target).abs(), stable=True)[:n]


class PromptCurriculum:
    """PCL: pick the pool prompts whose predicted pass rate is nearest `target`.

    tasks, seed, model, tokenizer: given by the trainer (the policy and its tokenizer). pool_factor:
    candidates per task trained on. target: the pass rate aimed at. hidden_size, lr, value_steps:
    the value model, its Adam learning rate and its optimizer steps per iteration.
    max_prompt_tokens, feature_batch_size: the feature pass.
    """

    def __init__(self, tasks: Sequence[Task], seed: int, model: nn.Module, tokenizer,
                 pool_factor: int = 4, target: float = 0.5, hidden_size: int = 64, lr: float = 1e-3,
                 value_steps: int = 8, max_prompt_tokens: int = 256, feature_batch_size: int = 32):
        if pool_factor < 1:
            raise ValueError(f"curriculum.pool_factor must be >= 1, got {pool_factor}")
        if not 0.0 <= target <= 1.0:
            raise ValueError(f"curriculum.target must be in [0, 1], got {target}")
        if value_steps < 1:
            raise ValueError(f"curriculum.value_steps must be >= 1, got {value_steps}")
        self.order = UniformCurriculum(tasks, seed)
        self.num_tasks = len(self.order.tasks)
        self.model, self.tokenizer = model, tokenizer
        self.pool_factor, self.target, self.value_steps = pool_factor, target, value_steps
        self.max_prompt_tokens, self.feature_batch_size = max_prompt_tokens, feature_batch_size
        width = causal_lm_parts(model)[1].weight.shape[1]
        with torch.random.fork_rng(devices=[]):   # leave the global RNG stream untouched
            torch.manual_seed(derive_seed(seed, "pcl"))
            self.value = PassRateModel(width, hidden_size)
        self.optimizer = torch.optim.Adam(self.value.parameters(), lr=lr)
        self.pending: dict[str, torch.Tensor] = {}   # uid -> features of the tasks being rolled out
        self.last_sample: dict[str, float] = {}

    def features(self, tasks: Sequence[Task]) -> torch.Tensor:
        return prompt_features(self.model, self.tokenizer, [t.prompt for t in tasks],
                               max_tokens=self.max_prompt_tokens, batch_size=self.feature_batch_size)

    def candidates(self, n: int) -> list[Task]:
        """A pool of min(pool_factor x n, all) distinct tasks, at least n, in epoch order."""
        size = max(n, min(self.pool_factor * n, self.num_tasks))
        pool: dict[str, Task] = {}
        while len(pool) < size:
            for t in self.order.sample(min(size - len(pool), self.num_tasks)):
                pool.setdefault(t.uid, t)
        return list(pool.values())

    def sample(self, n: int) -> list[Task]:
        if n > self.num_tasks:
            raise ValueError(f"asked for {n} distinct tasks but the environment has {self.num_tasks}")
        pool = self.candidates(n)
        feats = self.features(pool)
        with torch.no_grad():
            predicted = torch.sigmoid(self.value(feats))
        chosen = nearest_to_target(predicted, n, self.target).tolist()
        self.pending = {pool[i].uid: feats[i] for i in chosen}
        self.last_sample = {
            "curriculum/pool_size": float(len(pool)),
            "curriculum/pool_predicted_pass_rate": predicted.mean().item(),
            "curriculum/predicted_pass_rate": predicted[chosen].mean().item(),
        }
        return [pool[i] for i in chosen]

    def update(self, tasks: Sequence[Task], scores: Sequence[Score]) -> dict[str, float]:
        group_size = len(scores) // max(len(tasks), 1)
        rates = torch.tensor([c / g for c, g in group_pass_counts(scores, group_size)])
        missing = [t for t in tasks if t.uid not in self.pending]
        if missing:  # not sampled by this curriculum in this iteration: featurise now
            self.pending.update(zip([t.uid for t in missing], self.features(missing)))
        feats = torch.stack([self.pending[t.uid] for t in tasks])
        self.pending = {}
        with torch.no_grad():  # error on prompts the value model has not been trained on yet
            before = torch.sigmoid(self.value(feats))
        for _ in range(self.value_steps):
            self.optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.binary_cross_entropy_with_logits(self.value(feats), rates)
            loss.backward()
            self.optimizer.step()
        return {
            **self.last_sample,
            "curriculum/epoch": float(self.order.epoch),
            "curriculum/observed_pass_rate": rates.mean().item(),
            "curriculum/value_abs_error": (before - rates).abs().mean().item(),
            "curriculum/value_loss": loss.item(),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"order": self.order.state_dict(), "value": self.value.state_dict(),
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order.load_state_dict(state["order"])
        self.value.load_state_dict(state["value"])
        self.optimizer.load_state_dict(state["optimizer"])
