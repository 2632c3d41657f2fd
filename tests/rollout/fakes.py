"""Engines around a real one that also report sampler log-probs, for testing the code around
an engine (packing, metrics, correction) without vLLM."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from rlx.rollout.base import Generation
from rlx.rollout.batch import pack_sequences
from rlx.rollout.logprobs import forward_logprobs


def known_logprob(token: int) -> float:
    """The log-prob `KnownLogprobs` reports for a sampled `token` (never 0)."""
    return -(1 + token % 50) / 100


class KnownLogprobs:
    """`inner`'s samples, each response token t reported with log-prob `known_logprob(t)`."""

    reports_logprobs = True

    def __init__(self, inner):
        self.inner = inner
        self.temperature = inner.temperature

    @property
    def last_stats(self):
        return self.inner.last_stats

    def sync_weights(self, model=None) -> float:
        return self.inner.sync_weights(model)

    def generate(self, prompts: Sequence[Sequence[int]], *, seed: int) -> list[Generation]:
        return [dataclasses.replace(g, logprobs=[known_logprob(t) for t in g.response_ids])
                for g in self.inner.generate(prompts, seed=seed)]


class OffsetLogprobs(KnownLogprobs):
    """`inner`'s samples reported with the trainer model's own log-probs minus `offset`, so the
    sampler/trainer log-ratio is `offset` on every action token."""

    def __init__(self, inner, model, pad_id: int, offset: float):
        super().__init__(inner)
        self.model, self.pad_id, self.offset = model, pad_id, offset

    @torch.no_grad()
    def generate(self, prompts: Sequence[Sequence[int]], *, seed: int) -> list[Generation]:
        generations = self.inner.generate(prompts, seed=seed)
        ids, mask, _ = pack_sequences(generations, self.pad_id)
        logp = forward_logprobs(self.model, ids, mask, temperature=self.temperature).logprobs
        return [dataclasses.replace(g, logprobs=(logp[i, len(g.prompt_ids):len(g.prompt_ids) + len(g.response_ids)]
                                                 - self.offset).tolist())
                for i, g in enumerate(generations)]
