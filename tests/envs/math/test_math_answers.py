import pytest

from rlx.envs.math.answers import as_number, extract_answer, last_boxed, normalize_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so \boxed{\frac{1}{\sqrt{2}}}.", r"\frac{1}{\sqrt{2}}"),
        (r"first \boxed{1} then \boxed{\{a, b\}}", r"\{a, b\}"),
        (r"\boxed{x^{2^{3}}}", "x^{2^{3}}"),
        (r"\fbox{7}", "7"),
        (r"\boxed 7.", "7"),
        (r"\boxed{5", None),
        ("no box here", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        # 1. boxed wins over everything else, last one counts, nested braces kept
        (r"#### 3 but really \boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"The answer is $\boxed{-4}$.", "-4"),
        # 2. GSM8K's ####
        ("5 + 5 = 10\n#### 10", "10"),
        ("#### 1,000\n", "1,000"),
        ("#### $18 dollars", "18"),
        ("#### 7\nlater #### -2", "-2"),
        # 3. "answer is" / "answer:"
        ("So the answer is 42.", "42"),
        ("The answer is 5 apples.", "5"),
        ("Answer: -3", "-3"),
        ("The final answer is $x^2+1$.", "x^2+1"),
        ("The answer is 2.5.", "2.5"),
        ("the answer is: 3/4", "3/4"),
        # 4. last number fallback (signs, decimals, thousands commas)
        ("We get 3-4, that is -1, and then 7", "7"),
        ("it costs -12 dollars", "-12"),
        ("total 1,234,567 people", "1,234,567"),
        ("half is 0.5.", "0.5"),
        ("no number at all", None),
        ("", None),
    ],
)
def test_extract_answer(completion, expected):
    assert extract_answer(completion) == expected


def test_extract_answer_without_last_number_fallback():
    assert extract_answer("I think it is 7", last_number_fallback=False) is None
    assert extract_answer("#### 7", last_number_fallback=False) == "7"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("$1,000.$", "1000"),
        (r"\$18", "18"),
        (r"\dfrac{1}{2}", r"\frac{1}{2}"),
        (r"18 \text{ dollars}", "18"),
        (r"90^\circ", "90"),
        (r"10\%", "10"),
        ("\u22125", "-5"),
        (r"\left( 1, 2 \right)", "(1,2)"),
        (r"\text{(B)}", r"\text{(B)}"),
    ],
)
def test_normalize_answer(answer, expected):
    assert normalize_answer(answer) == expected


def test_as_number():
    assert as_number("-0.50") == as_number("-1/2")
    assert as_number("1000") == 1000
    assert as_number(r"\frac{1}{2}") is None
    assert as_number("1/0") is None
