"""A folder cache for built or converted models, safe for several processes at once.

A folder is built in a temporary directory next to its final place and renamed into place
(rename is atomic on one file system), so a reader never sees half a folder and two
processes building the same key at once both end up using one complete copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

COMPLETE_MARKER = "rlx_complete.json"


def default_cache_dir() -> Path:
    """`$RLX_CACHE` if set, else `~/.cache/rlx`."""
    return Path(os.environ.get("RLX_CACHE") or "~/.cache/rlx").expanduser()


def settings_key(settings: dict) -> str:
    """A short stable hash of JSON-able settings (sha256, not Python's salted `hash`)."""
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cached_folder(
    cache_dir: str | Path | None,
    name: str,
    build: Callable[[Path], None],
    settings: dict | None = None,
) -> Path:
    """Return `<cache_dir>/<name>`, calling `build(tmp_dir)` to fill it the first time.

    `settings` are written into the completion marker so a human can see what a folder holds.
    """
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    target = root / name
    if (target / COMPLETE_MARKER).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a cache may be shared
        build(tmp)
        (tmp / COMPLETE_MARKER).write_text(json.dumps(settings or {}, indent=2, sort_keys=True))
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first: use its folder
            if not (target / COMPLETE_MARKER).exists():
                raise OSError(f"{target} exists but is not a complete rlx cache folder; delete it")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
