"""The generation interface the trainer talks to.

Engines (HF `generate`, vLLM) implement `GenerationEngine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass
class Generation:
    """One sampled response.

    prompt_ids: the prompt tokens as given.
    response_ids: the sampled tokens, without padding; ends with an eos token when `finished`.
    finished: the model emitted eos (False when cut at `max_new_tokens`).
    logprobs: the sampler's log-probability of each response token (len(response_ids)), as the
        engine computed it while sampling; None when the engine does not report them.
    """

    prompt_ids: list[int]
    response_ids: list[int]
    finished: bool
    logprobs: list[float] | None = None


@dataclass
class GenerationStats:
    """Counts and timing of the last `generate` call."""

    num_sequences: int = 0
    prompt_tokens: int = 0
    response_tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        """Generated (response) tokens per second of wall time."""
        return self.response_tokens / self.seconds if self.seconds > 0 else 0.0

    def metrics(self) -> dict[str, float]:
        """`perf/` metrics for the logger."""
        return {
            "perf/generation_tokens_per_s": self.tokens_per_s,
            "perf/generation_s": self.seconds,
            "perf/generation_tokens": float(self.response_tokens),
        }


class GenerationEngine(Protocol):
    """Samples one response per prompt; the same `seed` gives the same responses.
    `reports_logprobs` (a class attribute): its generations carry `logprobs`; the launcher
    refuses a mismatch correction (`loss.rollout_correction`) with an engine without it."""

    last_stats: GenerationStats
    temperature: float  # sampling temperature (0 = greedy); the trainer's log-probs use it
    reports_logprobs: bool

    def generate(self, prompts: Sequence[Sequence[int]], *, seed: int) -> list[Generation]: ...

    def sync_weights(self, model: Any = None) -> float:
        """Make the engine sample from `model`'s current weights; seconds taken. Engines that
        sample from the live model (HF) return 0.0; engines with their own copy (vLLM) load it.
        The trainer calls it after every optimizer update and after resuming."""
        ...
