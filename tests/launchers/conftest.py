"""The SLURM tests need a cluster that answers `sinfo` and `sacct`: the single-node one from
`bash scripts/slurm/start.sh` (as root), which `.ci/run` starts. Without one they skip, unless
RLX_REQUIRE_SLURM=1 (CI), where they fail."""

import os
import shutil
import subprocess

import pytest

HOW = ("start the local single-node cluster with `bash scripts/slurm/start.sh` (as root; it installs "
       "the Debian packages if needed), then rerun; CI sets RLX_REQUIRE_SLURM=1 to fail instead of skip")


def _answers(*cmd: str) -> str | None:
    """None when `cmd` runs and exits 0 within 15 s, else why not."""
    if shutil.which(cmd[0]) is None:
        return f"`{cmd[0]}` is not installed"
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return f"`{' '.join(cmd)}` timed out"
    if out.returncode == 0 and out.stdout.strip():
        return None
    return f"`{' '.join(cmd)}` failed: {out.stderr.strip()[:300]}"


@pytest.fixture(scope="session")
def slurm() -> None:
    """Skip (or fail, with RLX_REQUIRE_SLURM=1) unless a SLURM cluster with accounting answers."""
    problem = (_answers("sinfo", "-h", "-o", "%T")  # the controller
               or _answers("sacctmgr", "-n", "-P", "list", "cluster", "format=cluster"))  # accounting (sacct)
    if problem:
        message = f"no usable SLURM cluster ({problem}); {HOW}"
        if os.environ.get("RLX_REQUIRE_SLURM") == "1":
            pytest.fail(message)
        pytest.skip(message)
