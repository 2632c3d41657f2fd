"""Procedural math tasks: offline, deterministic given a seed, difficulty set by config.

Kinds (`TaskKind`), roughly from easiest to hardest:

- `addition`: "What is 3 + 5?" -- operands of `min_digits`..`max_digits` digits. With one
  digit this is the kind a 135M chat model already gets right some of the time, so a run
  shows reward from the first iteration.
- `word_problem`: one-step stories ("Mia has 4 apples. Mia buys 3 more apples. ...") over
  +, -, x, / with the same digit range (x and / use a one-digit second number).
- `chain_sum`: "4 - 1 + 7 =" with `min_terms`..`max_terms` terms (reasoning-gym `chain_sum`).
- `arithmetic`: expressions with `operators`, parentheses and negatives, `min_terms`..
  `max_terms` terms (reasoning-gym `basic_arithmetic`).
- `gsm_symbolic`: multi-step GSM8K-style word problems (reasoning-gym `gsm_symbolic`,
  GSM-Symbolic templates, arXiv 2410.05229); the digit/term knobs do not apply.

Each kind yields up to `size_per_kind` tasks with distinct prompts; a kind with fewer
distinct problems than that (one-digit addition has 100) yields all it has.
"""

import random
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from rlx.envs.base import Task

TaskKind = Literal["addition", "word_problem", "chain_sum", "arithmetic", "gsm_symbolic"]
Operator = Literal["+", "-", "*", "/"]

NAMES = ("Mia", "Leo", "Ava", "Sam", "Noah", "Emma", "Omar", "Lena", "Ravi", "Zoe")
ITEMS = ("apples", "pencils", "stickers", "marbles", "books", "cookies", "stamps", "shells")


def stable_seed(seed: int, name: str) -> int:
    """A per-stream seed from a seed and a name (crc32: stable across processes)."""
    return zlib.crc32(f"{seed}/{name}".encode())


def _operand(rng: random.Random, min_digits: int, max_digits: int) -> int:
    digits = rng.randint(min_digits, max_digits)
    return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10**digits - 1)


def _addition(rng: random.Random, min_digits: int, max_digits: int) -> tuple[str, str, float]:
    a, b = _operand(rng, min_digits, max_digits), _operand(rng, min_digits, max_digits)
    return f"What is {a} + {b}?", str(a + b), float(len(str(max(a, b))))


# One-step stories: (template, answer from a >= b and a one-digit k, extra difficulty).
STORIES: tuple[tuple[str, Callable[[int, int, int], int], int], ...] = (
    ("{name} has {a} {item}. {name} buys {b} more {item}. How many {item} does {name} have now?",
     lambda a, b, k: a + b, 0),
    ("There are {a} red {item} and {b} blue {item} in a box. How many {item} are in the box?",
     lambda a, b, k: a + b, 0),
    ("{name} has {a} {item} and gives {b} of them to a friend. How many {item} does {name} have left?",
     lambda a, b, k: a - b, 0),
    ("{name} buys {k} bags with {a} {item} in each bag. How many {item} does {name} buy?",
     lambda a, b, k: k * a, 1),
    ("{name} shares {ak} {item} equally among {k} friends. How many {item} does each friend get?",
     lambda a, b, k: a, 1),
)


def _word_problem(rng: random.Random, min_digits: int, max_digits: int) -> tuple[str, str, float]:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    x, y = (max(1, _operand(rng, min_digits, max_digits)) for _ in range(2))  # no "0 apples"
    a, b, k = max(x, y), min(x, y), rng.randint(2, 9)
    template, answer, extra = rng.choice(STORIES)
    text = template.format(name=name, item=item, a=a, b=b, k=k, ak=a * k)
    return text, str(answer(a, b, k)), float(len(str(a)) + extra)


@dataclass(frozen=True)
class Knobs:
    """The difficulty settings every kind reads from (each uses the ones that apply to it)."""

    min_digits: int
    max_digits: int
    min_terms: int
    max_terms: int
    operators: tuple[str, ...]


Candidates = Iterator[tuple[str, str, float | None]]  # (prompt, answer, difficulty)


def _local(make: Callable[[random.Random, int, int], tuple[str, str, float]]) -> Callable[..., Candidates]:
    def candidates(seed: int, budget: int, knobs: Knobs) -> Candidates:
        rng = random.Random(seed)
        for _ in range(budget):
            yield make(rng, knobs.min_digits, knobs.max_digits)

    return candidates


def _reasoning_gym(name: str, uses_knobs: Sequence[str]) -> Callable[..., Candidates]:
    def candidates(seed: int, budget: int, knobs: Knobs) -> Candidates:
        import reasoning_gym  # imported lazily: ~0.7 s

        config = {key: getattr(knobs, key) for key in uses_knobs}
        dataset = reasoning_gym.create_dataset(name, size=budget, seed=seed, **config)
        for i in range(budget):
            item = dataset[i]
            question = item["question"].replace(" Give the result as your final answer.", "")
            meta = item["metadata"]
            terms = meta.get("num_terms")
            difficulty = float((terms - 1) * meta["num_digits"]) if terms else None
            yield question.strip(), str(item["answer"]), difficulty

    return candidates


_TERMS_DIGITS = ("min_terms", "max_terms", "min_digits", "max_digits")
KINDS: dict[str, Callable[[int, int, Knobs], Candidates]] = {
    "addition": _local(_addition),
    "word_problem": _local(_word_problem),
    "chain_sum": _reasoning_gym("chain_sum", _TERMS_DIGITS),
    "arithmetic": _reasoning_gym("basic_arithmetic", (*_TERMS_DIGITS, "operators")),
    "gsm_symbolic": _reasoning_gym("gsm_symbolic", ()),
}


class GeneratedTasks:
    """A task source (call it for the tasks): procedural math problems of the chosen `kinds`.

    uids are "gen-<kind>-<index>" and stay the same for a given config; the same seed gives
    the same tasks, and a larger `size_per_kind` extends the list without changing its start.
    `difficulty` is the number of digits (addition, word problems; +1 for x and /) or
    (terms - 1) x digits (chain_sum, arithmetic); None for gsm_symbolic.
    """

    def __init__(
        self,
        kinds: Sequence[TaskKind] = ("addition", "word_problem", "chain_sum", "gsm_symbolic"),
        size_per_kind: int = 1000,
        min_digits: int = 1,
        max_digits: int = 2,
        min_terms: int = 2,
        max_terms: int = 3,
        operators: Sequence[Operator] = ("+", "-", "*"),
        seed: int = 0,
    ):
        if not 1 <= min_digits <= max_digits:
            raise ValueError(f"need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}")
        if not 2 <= min_terms <= max_terms:
            raise ValueError(f"need 2 <= min_terms <= max_terms, got {min_terms}, {max_terms}")
        unknown = [kind for kind in kinds if kind not in KINDS]
        if unknown:
            raise ValueError(f"unknown task kinds {unknown}; choose from {list(KINDS)}")
        self.kinds = tuple(kinds)
        self.size_per_kind = size_per_kind
        self.knobs = Knobs(min_digits, max_digits, min_terms, max_terms, tuple(operators))
        self.seed = seed

    def __call__(self) -> list[Task]:
        tasks = []
        for kind in self.kinds:
            budget = 20 * self.size_per_kind  # candidates to try before accepting fewer distinct prompts
            seen: set[str] = set()
            for prompt, answer, difficulty in KINDS[kind](stable_seed(self.seed, kind), budget, self.knobs):
                if prompt in seen:
                    continue
                seen.add(prompt)
                tasks.append(Task(f"gen-{kind}-{len(seen) - 1:06d}", prompt, answer, kind, difficulty))
                if len(seen) == self.size_per_kind:
                    break
        return tasks
