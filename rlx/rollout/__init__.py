"""Generation engines, the shared log-prob forward and sequence packing."""

from rlx.rollout.base import Generation, GenerationEngine, GenerationStats
from rlx.rollout.batch import pack_sequences
from rlx.rollout.logprobs import ForwardOut, forward_logprobs

__all__ = [
    "ForwardOut",
    "Generation",
    "GenerationEngine",
    "GenerationStats",
    "forward_logprobs",
    "pack_sequences",
]
