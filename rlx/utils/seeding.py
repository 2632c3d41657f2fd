"""Seeds derived from the run seed with a stable hash: same seed + same name -> same stream,
on every machine and Python version (never Python's salted `hash(str)`)."""

from __future__ import annotations

import random
import zlib

import numpy as np
import torch


def derive_seed(seed: int, *names: object) -> int:
    """A 31-bit seed for the stream `names` (e.g. ("rollout", 3)) of run seed `seed`."""
    key = "/".join([str(seed), *map(str, names)]).encode()
    return zlib.crc32(key) & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch global generators (used once at start for library code)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
