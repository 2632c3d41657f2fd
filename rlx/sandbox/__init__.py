"""Run untrusted programs (policy-written code) in a bubblewrap sandbox with resource limits.

`Sandbox.run(program) -> ExecResult`; see `rlx.sandbox.sandbox` for the limits and
`rlx.sandbox.bwrap` for what a sandboxed program can see. Standard library only.
"""

from rlx.sandbox.result import ExecResult, limit_hit
from rlx.sandbox.sandbox import Sandbox, SandboxUnavailable

__all__ = ["ExecResult", "Sandbox", "SandboxUnavailable", "limit_hit"]
