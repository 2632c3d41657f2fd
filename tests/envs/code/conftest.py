import pytest

from tests.sandbox.helpers import tight_sandbox


@pytest.fixture(scope="session")
def sandbox():
    """Roomy enough for every HumanEval reference solution, tight enough for fast containment tests."""
    box = tight_sandbox(cpu_seconds=2, wall_seconds=4.0, memory_mb=512)
    yield box
    box.close()


@pytest.fixture(scope="session")
def humaneval():
    from rlx.envs.code import HumanEvalTasks

    return {p.uid: p for p in HumanEvalTasks()()}
