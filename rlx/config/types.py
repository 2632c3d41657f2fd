"""Annotations that config validation understands beyond plain Python types.

A component's signature is its config schema. Parameters annotated with `DataPath`
are checked for existence before anything runs, so a wrong path fails in seconds
with a message that says what the file is and how to get it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated


@dataclass(frozen=True)
class MustExist:
    """Marker: the annotated string is a local path that must exist (unless `None`).

    `what` names the data ("GSM8K-format jsonl"), `how` tells the user how to get it.
    `allow_hub_id`: a value that does not exist locally but looks like a hub id
    (`owner/name`) is accepted and resolved at load time.
    """

    what: str
    how: str = ""
    allow_hub_id: bool = False


def DataPath(what: str, how: str = "", allow_hub_id: bool = False):  # noqa: N802 - used like a type
    """`path: DataPath("GSM8K jsonl", "download ... to ...")` in a signature."""
    return Annotated[str, MustExist(what, how, allow_hub_id)]


@dataclass(frozen=True)
class Range:
    """Marker: the annotated number must lie in the bounds given (`ge`/`gt` below, `le`/`lt`
    above; None = unbounded). Validation names the key and the bound before anything runs:
    `temperature: Annotated[float, Range(ge=0)]`."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def problem(self, value: float) -> str | None:
        """Why `value` is out of range, or None."""
        for bound, ok, word in ((self.ge, lambda b: value >= b, ">="), (self.gt, lambda b: value > b, ">"),
                                (self.le, lambda b: value <= b, "<="), (self.lt, lambda b: value < b, "<")):
            if bound is not None and not ok(bound):
                return f"must be {word} {bound:g}, got {value!r}"
        return None
