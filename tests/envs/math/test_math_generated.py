import re

import pytest

from rlx.envs.math.generated import GeneratedTasks

ALL_KINDS = ["addition", "word_problem", "chain_sum", "arithmetic", "gsm_symbolic"]


def test_same_seed_same_tasks_and_other_seed_differs():
    first = GeneratedTasks(kinds=ALL_KINDS, size_per_kind=30, seed=3)()
    again = GeneratedTasks(kinds=ALL_KINDS, size_per_kind=30, seed=3)()
    other = GeneratedTasks(kinds=ALL_KINDS, size_per_kind=30, seed=4)()
    assert first == again
    assert [t.prompt for t in first] != [t.prompt for t in other]


def test_kinds_sizes_uids_and_unique_prompts():
    tasks = GeneratedTasks(kinds=ALL_KINDS, size_per_kind=40)()
    assert len(tasks) == 5 * 40
    assert [t.task_type for t in tasks[::40]] == ALL_KINDS
    assert tasks[0].uid == "gen-addition-000000" and tasks[-1].uid == "gen-gsm_symbolic-000039"
    assert len({t.uid for t in tasks}) == len({t.prompt for t in tasks}) == len(tasks)
    assert all(t.answer and t.prompt for t in tasks)


def test_larger_size_extends_without_changing_the_start():
    small = GeneratedTasks(kinds=["word_problem"], size_per_kind=10)()
    large = GeneratedTasks(kinds=["word_problem"], size_per_kind=25)()
    assert large[:10] == small


def test_one_digit_addition_is_capped_at_its_100_distinct_problems():
    tasks = GeneratedTasks(kinds=["addition"], size_per_kind=500, max_digits=1)()
    assert len(tasks) == 100
    for task in tasks:
        a, b = map(int, re.fullmatch(r"What is (\d) \+ (\d)\?", task.prompt).groups())
        assert task.answer == str(a + b)
        assert task.difficulty == 1.0


def test_digit_knobs_bound_operands():
    tasks = GeneratedTasks(kinds=["addition", "chain_sum"], size_per_kind=50, min_digits=3, max_digits=3)()
    numbers = [int(n) for t in tasks for n in re.findall(r"\d+", t.prompt)]
    assert min(numbers) >= 100 and max(numbers) <= 999


def test_term_knobs_and_answers_of_chain_sums():
    tasks = GeneratedTasks(kinds=["chain_sum"], size_per_kind=30, min_terms=4, max_terms=4)()
    for task in tasks:
        expression = task.prompt.split(":")[-1].rstrip("= ")
        assert len(re.findall(r"\d+", expression)) == 4
        assert eval(expression) == int(task.answer)  # noqa: S307 - digits and +/- only


def test_word_problem_answers_are_integers():
    tasks = GeneratedTasks(kinds=["word_problem"], size_per_kind=100)()
    assert all(re.fullmatch(r"\d+", t.answer) for t in tasks)


def test_bad_knobs_fail_fast():
    with pytest.raises(ValueError, match="unknown task kinds"):
        GeneratedTasks(kinds=["calculus"])
    with pytest.raises(ValueError, match="min_digits"):
        GeneratedTasks(min_digits=3, max_digits=2)
