import pytest

from rlx.envs.code.harness import run_tests
from rlx.envs.code.humaneval import split_check, stub_preamble
from tests.sandbox.helpers import requires_bwrap, requires_humaneval

CHECK = '''
METADATA = {"author": "x"}


def check(candidate):
    import math
    assert candidate(1) == 2
    assert True, "constant asserts are not tests"
    x = 3
    for i in range(2):
        assert candidate(i) == i + 1
    assert candidate(x) == 4, "three"
    done = True
'''


def test_check_body_becomes_units_with_their_setup_statements():
    setup, units = split_check(CHECK)
    assert setup == 'METADATA = {"author": "x"}'
    assert units == (
        "import math\nassert candidate(1) == 2",
        'assert True, "constant asserts are not tests"\nx = 3\nfor i in range(2):\n    assert candidate(i) == i + 1',
        'assert candidate(x) == 4, "three"\ndone = True',
    )


def test_split_check_rejects_tests_without_check_or_asserts():
    with pytest.raises(ValueError, match="exactly one"):
        split_check("assert 1 == 1")
    with pytest.raises(ValueError, match="no assert"):
        split_check("def check(candidate):\n    candidate(1)")


def test_stub_preamble_is_the_code_before_the_entry_point():
    stub = "import math\n\n\ndef helper(x):\n    return x\n\n\n@decorator\ndef target(x):\n    '''Doc.'''\n"
    assert stub_preamble(stub, "target") == "import math\n\n\ndef helper(x):\n    return x\n\n\n"
    with pytest.raises(ValueError, match="does not define missing"):
        stub_preamble(stub, "missing")


@requires_humaneval
def test_all_164_problems_load_from_the_wheel(humaneval):
    assert len(humaneval) == 164
    assert list(humaneval)[:3] == ["humaneval-0", "humaneval-1", "humaneval-2"]
    assert sum(len(p.tests) for p in humaneval.values()) == 1133
    first = humaneval["humaneval-0"]
    assert (first.entry_point, first.task_type) == ("has_close_elements", "humaneval")
    assert first.preamble == "from typing import List\n\n\n"
    assert first.prompt.startswith("Complete the following Python function.\n\n```python\nfrom typing import List")
    assert first.reference.startswith(first.stub) and first.task().answer == first.reference
    assert first.tests[0] == "assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True"


@requires_bwrap
@requires_humaneval
@pytest.mark.slow
def test_every_canonical_solution_passes_and_no_empty_stub_does(sandbox, humaneval):
    problems = list(humaneval.values())
    canonical = run_tests(sandbox, problems, [p.reference for p in problems])
    assert [p.uid for p, r in zip(problems, canonical) if not r.all_passed] == []
    stubs = run_tests(sandbox, problems[:20], [p.stub for p in problems[:20]])  # docstring only: returns None
    assert sum(r.all_passed for r in stubs) == 0
