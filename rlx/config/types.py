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
