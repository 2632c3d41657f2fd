"""SFT trainer settings (conf/trainer/sft.yaml): demonstrations, batches, optimizer, evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal


@dataclass(frozen=True)
class SFTSettings:
    """Supervised fine-tuning on expert demonstrations (`trainer=sft`).

    One iteration (the run's `iterations`) = one optimizer step on `batch_size` demonstration
    rows (one row = one policy step: its RL step prompt and the expert's response), taken in
    a seeded shuffled order, epoch after epoch; gradients accumulate over micro-batches of
    `micro_batch_size` rows. The loss is the mean cross-entropy over the response (action)
    tokens of the batch; prompt tokens carry no loss.

    demos: the demonstrator (`rlx.envs.alfworld.demos.ExpertDemos`,
        `rlx.envs.webshop.demos.GoalDemos`), a `_target_` node; null = none configured.
    demo_tasks: how many train tasks the demonstrator plays (null = all); only won
        episodes are kept. The rows are written once to `<run_dir>/demos` (a `datasets`
        dataset) and reused on resume.
    demo_max_steps: the demonstrator's step limit per episode (the environment's own limit
        applies too); independent of `agent.max_steps`, which bounds RL and evaluation episodes.
    eval_tasks / eval_samples / eval_every / eval_at_start: held-out evaluation with the RL
        rollout (same prompts, parser and environment): format-valid ratio, success rate
        overall and per task type; `eval_transcripts` of its episodes are written to
        `<run_dir>/transcripts` (`rlx.train.transcripts`; 0 = none). checkpoint_every / keep_checkpoints: as in RL; the final
        weights are also exported as an HF folder `<run_dir>/model` (`model=from_run`).
    """

    recipe: ClassVar[str] = "rlx.sft.recipe"  # what `rlx.train.recipe.run` hands the run to

    demos: Any = None
    demo_tasks: int | None = 64
    demo_max_steps: int = 50
    batch_size: int = 8
    micro_batch_size: int = 4
    lr: float = 5e-5
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    max_grad_norm: float = 1.0
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    warmup_iters: int = 0
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    eval_every: int = 0
    eval_at_start: bool = True
    eval_tasks: int | None = 16
    eval_samples: int = 1
    eval_transcripts: int = 4
    mixed_precision: Literal["bf16", "none"] = "bf16"

    def __post_init__(self):
        if self.demos is None:
            raise ValueError("trainer.demos: no demonstrator configured; use experiment=sft_alfworld "
                             "or experiment=sft_webshop, or set trainer.demos._target_=...")
        for name in ("batch_size", "micro_batch_size", "keep_checkpoints", "eval_samples", "demo_max_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"trainer.{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_transcripts < 0:
            raise ValueError(f"trainer.eval_transcripts must be >= 0 (0 = none), got {self.eval_transcripts}")
        if self.batch_size % self.micro_batch_size:
            raise ValueError(f"trainer.micro_batch_size={self.micro_batch_size} must divide "
                             f"trainer.batch_size={self.batch_size}")
