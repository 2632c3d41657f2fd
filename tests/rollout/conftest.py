"""A tiny policy and chat prompts shared by the rollout tests (built once per session, offline)."""

import pytest

from rlx.models.tiny import build_tiny

QUESTIONS = ["What is 3 plus 4?", "hi", "What is 12 times 13? Let's think step by step.", "7 minus 2"]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("rlx_cache"))


@pytest.fixture(scope="session")
def tiny(cache_dir):
    return build_tiny(cache_dir=cache_dir, seed=0)


@pytest.fixture(scope="session")
def prompts(tiny) -> list[list[int]]:
    """Chat prompts of different lengths (so batches need left padding)."""
    encode = tiny.tokenizer.apply_chat_template
    return [encode([{"role": "user", "content": q}], add_generation_prompt=True)["input_ids"] for q in QUESTIONS]
