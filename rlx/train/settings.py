"""Trainer settings: batch sizes, optimizer, schedule, checkpointing, evaluation (conf/trainer/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class TrainerSettings:
    """One iteration = `tasks_per_iter` tasks x `group_size` rollouts, then `ppo_epochs` passes of
    `minibatches` optimizer steps each, every step accumulating micro-batches of
    `micro_batch_size` sequences. `deterministic` makes CUDA runs repeatable (deterministic
    kernels and cuBLAS workspace; slower); CPU runs are repeatable without it.
    `mixed_precision`: on CUDA, compute in bf16 under autocast over fp32 weights (no effect on CPU).
    `eval_transcripts`: held-out episodes of each evaluation written as readable transcripts to
    `<run_dir>/transcripts` (`rlx.train.transcripts`; 0 = none).
    `parallel`: with several training processes (`launcher.nprocs`, SLURM tasks), `ddp` keeps a
    whole model on every rank and sums gradients; `fsdp` shards weights, gradients and optimizer
    state over the ranks (FSDP2) for models that do not fit on one device. One process: no effect."""

    tasks_per_iter: int = 8
    group_size: int = 4
    ppo_epochs: int = 1
    minibatches: int = 1
    micro_batch_size: int = 16
    lr: float = 1e-5
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    max_grad_norm: float = 1.0
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    warmup_iters: int = 0
    logprob_chunk_size: int = 1024
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    eval_every: int = 0
    eval_at_start: bool = False
    eval_tasks: int | None = 16
    eval_samples: int = 1
    eval_transcripts: int = 4
    deterministic: bool = False
    mixed_precision: Literal["bf16", "none"] = "bf16"
    parallel: Literal["ddp", "fsdp"] = "ddp"

    def __post_init__(self):
        batch = self.tasks_per_iter * self.group_size
        if batch % self.minibatches:
            raise ValueError(
                f"trainer.minibatches={self.minibatches} must divide the rollout batch "
                f"tasks_per_iter x group_size = {batch}"
            )
        for name in ("tasks_per_iter", "group_size", "ppo_epochs", "minibatches", "micro_batch_size",
                     "keep_checkpoints", "eval_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"trainer.{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_transcripts < 0:
            raise ValueError(f"trainer.eval_transcripts must be >= 0 (0 = none), got {self.eval_transcripts}")
