import json

import pytest

from rlx.envs.code.harness import run_tests
from rlx.envs.code.mbpp import MbppTasks, called_function, read_records
from tests.sandbox.helpers import requires_bwrap

RECORDS = [
    {"task_id": 11, "text": "Write a function to return the larger of two numbers.",
     "code": "def larger(a, b):\n    return a if a > b else b",
     "test_list": ["assert larger(1, 2) == 2", "assert larger(5, -1) == 5", "assert larger(3, 3) == 3"],
     "test_setup_code": "", "challenge_test_list": ["assert larger(-2, -3) == -2"]},
    {"task_id": 600, "text": "Write a function to find the common elements of two lists.",
     "code": "def common(xs, ys):\n    return list(set(xs) & set(ys))",
     "test_list": ["assert set(common([1, 2, 3], [2, 3, 4])) == {2, 3}", "assert common([1], [2]) == []"],
     "test_setup_code": "", "challenge_test_list": []},
    {"task_id": 700, "text": "Write a function to compute the area of a circle.",
     "code": "import math\ndef circle_area(r):\n    return math.pi * r * r",
     "test_list": ["assert math.isclose(circle_area(1), 3.14159, rel_tol=1e-3)", "assert circle_area(0) == 0"],
     "test_setup_code": "import math", "challenge_test_list": []},
]


@pytest.fixture
def mbpp_file(tmp_path):
    path = tmp_path / "mbpp.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return str(path)


def test_loads_records_into_problems(mbpp_file):
    problems = MbppTasks(mbpp_file)()
    assert [p.uid for p in problems] == ["mbpp-11", "mbpp-600", "mbpp-700"]
    assert [p.entry_point for p in problems] == ["larger", "common", "circle_area"]
    first = problems[0]
    assert first.prompt == (
        "Write a function to return the larger of two numbers.\n"
        "Your code should pass these tests:\n\nassert larger(1, 2) == 2"
    )
    assert first.tests == tuple(RECORDS[0]["test_list"]) and first.reference == RECORDS[0]["code"]
    assert (first.task_type, first.stub, first.preamble) == ("mbpp", "", "")
    assert problems[2].test_setup == "import math"


def test_options_split_prompt_tests_challenge_and_limit(mbpp_file):
    assert [p.uid for p in MbppTasks(mbpp_file, split="test")()] == ["mbpp-11"]
    assert [p.uid for p in MbppTasks(mbpp_file, split="validation")()] == ["mbpp-600"]
    assert [p.uid for p in MbppTasks(mbpp_file, split="train")()] == ["mbpp-700"]
    assert [p.uid for p in MbppTasks(mbpp_file, limit=2)()] == ["mbpp-11", "mbpp-600"]
    bare = MbppTasks(mbpp_file, tests_in_prompt=0)()[0]
    assert bare.prompt == "Write a function to return the larger of two numbers.\nName the function `larger`."
    assert MbppTasks(mbpp_file, tests_in_prompt=3)()[0].prompt.endswith("assert larger(3, 3) == 3")
    assert len(MbppTasks(mbpp_file, challenge_tests=True)()[0].tests) == 4


def test_sanitized_format_and_json_list(tmp_path):
    record = {"task_id": 2, "prompt": "Write a function to double a number.",
              "code": "def double(x):\n    return 2 * x",
              "test_imports": ["import math", "import re"], "test_list": ["assert double(2) == 4"]}
    path = tmp_path / "sanitized.json"
    path.write_text(json.dumps([record]))
    (problem,) = MbppTasks(str(path))()
    assert (problem.uid, problem.entry_point, problem.test_setup) == ("mbpp-2", "double", "import math\nimport re")
    assert read_records(str(path)) == [record]


def test_bad_inputs_fail_with_a_reason(tmp_path):
    with pytest.raises(FileNotFoundError, match="MBPP-format .* not found at .*absent.jsonl.*RLX_MBPP_PATH"):
        MbppTasks(str(tmp_path / "absent.jsonl"))()
    no_ids = tmp_path / "no_ids.jsonl"
    no_ids.write_text(json.dumps({"text": "t", "code": "", "test_list": ["assert f(1) == 1"]}) + "\n")
    assert MbppTasks(str(no_ids))()[0].uid == "mbpp-0"  # the record's position
    with pytest.raises(ValueError, match="needs a task_id"):
        MbppTasks(str(no_ids), split="train")()
    with pytest.raises(ValueError, match="cannot tell which function"):
        called_function("assert sorted([2, 1]) == [1, 2]")


def test_called_function_skips_builtins_and_attributes():
    assert called_function("assert set(similar((3, 4), (4, 5))) == set((4,))") == "similar"
    assert called_function("assert math.isclose(area(2), 12.56, rel_tol=0.01)") == "area"


@requires_bwrap
def test_reference_solutions_pass_and_wrong_ones_fail(mbpp_file, sandbox):
    problems = MbppTasks(mbpp_file, challenge_tests=True)()
    passed = run_tests(sandbox, problems, [p.reference for p in problems])
    assert [(r.passed, r.total, r.all_passed) for r in passed] == [(4, 4, True), (2, 2, True), (2, 2, True)]
    wrong = run_tests(sandbox, problems, ["def larger(a, b):\n    return a", "def common(xs, ys):\n    return []",
                                          "def circle_area(r):\n    return 3 * r * r"])
    assert [(r.passed, r.all_passed) for r in wrong] == [(3, False), (1, False), (1, False)]
    assert wrong[0].failing_test == "assert larger(1, 2) == 2" and wrong[0].got == "1"
