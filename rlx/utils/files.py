"""Small file helpers shared by the run directory's writers."""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomic(path: str | Path, text: str) -> None:
    """Replace `path` with `text` in one step: readers see the old file or the new one, never a
    half-written one (the text goes to a hidden per-process temporary file in the same folder)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
