import threading

import pytest

from rlx.envs.math import grading
from rlx.envs.math.grading import answers_match, grade


@pytest.mark.parametrize(
    ("reference", "prediction", "expected"),
    [
        ("1000", "1,000", True),
        ("-7", "-7.0", True),
        ("18", r"18 \text{ dollars}", True),
        ("5", "6", False),
        ("0.5", "1/2", True),
        # these go through math-verify
        (r"\frac{1}{2}", "0.5", True),
        ("0.5", r"\frac{1}{2}", True),
        (r"\frac{\sqrt{2}}{2}", r"\frac{1}{\sqrt{2}}", True),
        ("x^2+1", "1+x^2", True),
        (r"\frac{1}{3}", "0.5", False),
        ("3", "x", False),
        ("3", "", False),
    ],
)
def test_answers_match(reference, prediction, expected):
    assert answers_match(reference, prediction) is expected


def test_plain_numbers_never_reach_math_verify(monkeypatch):
    def fail(*args):
        raise AssertionError("math-verify called")

    monkeypatch.setattr(grading, "_math_verify", fail)
    assert grade(["12", "3", "1000"], ["12.0", "4", "1,000"]) == [True, False, True]


def test_grade_checks_each_distinct_pair_once(monkeypatch):
    calls = []
    real = grading._math_verify
    monkeypatch.setattr(grading, "_math_verify", lambda r, p: calls.append((r, p)) or real(r, p))
    refs = [r"\frac{1}{2}"] * 4 + ["3"]
    preds = ["0.5", "0.5", None, "0.25", "3"]
    assert grade(refs, preds) == [True, True, False, False, True]
    assert sorted(calls) == [(r"\frac{1}{2}", "0.25"), (r"\frac{1}{2}", "0.5")]


def test_grade_length_mismatch():
    with pytest.raises(ValueError, match="2 references but 1 predictions"):
        grade(["1", "2"], ["1"])


def test_math_verify_works_outside_the_main_thread():
    grading._parse.cache_clear()  # force a real parse inside the thread
    results = []
    worker = threading.Thread(target=lambda: results.append(answers_match(r"\frac{3}{4}", "0.75")))
    worker.start()
    worker.join(timeout=60)
    assert results == [True]
