import pytest

from tests.sandbox.helpers import tight_sandbox


@pytest.fixture(scope="session")
def sandbox():
    box = tight_sandbox()
    yield box
    box.close()
