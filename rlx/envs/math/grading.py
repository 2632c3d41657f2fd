"""Decide whether predicted final answers equal reference answers.

`answers_match` runs a fast path before math-verify (~70 ms per call on a cold
expression, most of it sympy):

1. normalised strings are equal (`normalize_answer`)                  -> True
2. both sides are plain numbers ("1000", "-0.5", "3/4"): exact value  -> equal or not
3. otherwise math-verify: `verify(parse("$ref$"), parse("$pred$"))`, so `\\frac{1}{2}`
   equals `0.5` and `\\sqrt{2}/2` equals `\\frac{1}{\\sqrt{2}}`.

`grade` scores a batch: each distinct (reference, prediction) pair is decided once, so a
group of G rollouts that agree on an answer costs one check, and parsed expressions are
cached across calls.

math-verify guards parsing and comparison with a SIGALRM timeout, which only works in
the main thread. Here the timeout is used in the main thread and switched off elsewhere
(a trainer scoring from a worker thread would otherwise get ValueError); predictions
longer than `MAX_VERIFY_CHARS` never reach sympy, which bounds the untimed case.
"""

import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache

from rlx.envs.math.answers import as_number, normalize_answer

VERIFY_TIMEOUT_S = 5
MAX_VERIFY_CHARS = 300

# math-verify warns once per process when its timeout is off, and logs each timeout.
logging.getLogger("math_verify").setLevel(logging.ERROR)


def _timeout_s() -> int | None:
    """math-verify's SIGALRM timeout where signals work (POSIX main thread), else None (off)."""
    if os.name == "posix" and threading.current_thread() is threading.main_thread():
        return VERIFY_TIMEOUT_S
    return None


@lru_cache(maxsize=16384)
def _parse(answer: str) -> tuple:
    """math-verify's parse of one answer written as inline LaTeX (cached; sympy objects are immutable)."""
    from math_verify import parse  # imported lazily: ~0.3 s

    try:
        return tuple(parse(f"${answer}$", parsing_timeout=_timeout_s()))
    except Exception:  # malformed LaTeX or a timeout: no parse, so no match
        return ()


def _math_verify(reference: str, prediction: str) -> bool:
    from math_verify import verify

    gold, target = _parse(reference), _parse(prediction)
    if not gold or not target:
        return False
    try:
        return bool(verify(list(gold), list(target), timeout_seconds=_timeout_s()))
    except Exception:
        return False


def answers_match(reference: str, prediction: str) -> bool:
    """True when `prediction` is mathematically the same final answer as `reference`."""
    ref, pred = normalize_answer(reference), normalize_answer(prediction)
    if not ref or not pred:
        return False
    if ref == pred:
        return True
    ref_value, pred_value = as_number(ref), as_number(pred)
    if ref_value is not None and pred_value is not None:
        return ref_value == pred_value
    if len(pred) > MAX_VERIFY_CHARS:
        return False
    return _math_verify(ref, pred)


def grade(references: Sequence[str], predictions: Sequence[str | None]) -> list[bool]:
    """`answers_match` over aligned lists; a None prediction (nothing extracted) is wrong.

    Each distinct (reference, prediction) pair is checked once.
    """
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    verdicts: dict[tuple[str, str], bool] = {}
    out = []
    for reference, prediction in zip(references, predictions):
        if prediction is None:
            out.append(False)
            continue
        key = (reference, prediction)
        if key not in verdicts:
            verdicts[key] = answers_match(reference, prediction)
        out.append(verdicts[key])
    return out
