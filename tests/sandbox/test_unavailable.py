"""Sandbox errors that need no working bubblewrap: a missing or broken bwrap, bad settings."""

import pytest

from rlx.sandbox import Sandbox, SandboxUnavailable


def test_missing_bwrap_is_a_clear_error_never_a_fallback():
    with pytest.raises(SandboxUnavailable, match=r"not found at '/nonexistent/bwrap'.*apt-get install bubblewrap"):
        Sandbox(bwrap="/nonexistent/bwrap")


def test_a_bwrap_that_cannot_sandbox_is_reported_at_first_use(tmp_path):
    broken = tmp_path / "bwrap"
    broken.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    broken.chmod(0o755)
    box = Sandbox(bwrap=str(broken))
    with pytest.raises(SandboxUnavailable, match="could not run a program here .*exit code 1.*uid map"):
        box.run("print(1)")


def test_a_bwrap_that_cannot_start_is_reported_too(tmp_path):
    broken = tmp_path / "bwrap"
    broken.write_bytes(b"\x7fELF not really")
    broken.chmod(0o755)
    with pytest.raises(SandboxUnavailable, match="could not run a program here .*Exec format error"):
        Sandbox(bwrap=str(broken)).run("print(1)")


def test_settings_are_checked():
    with pytest.raises(ValueError, match="cpu_seconds must be positive"):
        Sandbox(cpu_seconds=0)
    with pytest.raises(ValueError, match="workers must be in"):
        Sandbox(workers=0)
