import random

import pytest

from rlx.envs.webshop import HumanInstruction
from rlx.envs.webshop.goals import (
    NO_PRICE_BOUND,
    human_goals,
    price_bound,
    sale_price,
    shuffled,
    synthetic_goals,
)
from tests.envs.webshop.tiny_shop import product


def test_sale_price():
    rng = random.Random(0)
    assert sale_price([], rng) == 100.0 and sale_price([12.5], rng) == 12.5
    draws = [sale_price([10.0, 20.0], rng) for _ in range(200)]
    assert min(draws) >= 10.0 and max(draws) <= 20.0 and len(set(draws)) == 200


def test_price_bound_takes_one_of_the_next_four_steps():
    bounds = {price_bound(23.5, random.Random(seed)) for seed in range(50)}
    assert {b for b, _ in bounds} == {40.0, 50.0, 60.0}  # max of two of 30, 40, 50, 60
    assert (40.0, ", and price lower than 40.00 dollars") in bounds
    assert price_bound(985.0, random.Random(0)) == (NO_PRICE_BOUND, "")  # only 990 is above
    assert price_bound(975.0, random.Random(0)) == (990.0, ", and price lower than 990.00 dollars")


def test_synthetic_goals_one_per_option_combination():
    shampoo = product(
        "B1",
        "Lumora Shampoo",
        23.5,
        instruction="Find me sulfate free shampoo & conditioner",
        instruction_attributes=("sulfate free",),
    )
    plain = product(
        "B2", "Plain Soap", 5.0, options={}, instruction="Find me soap", instruction_attributes=("soap",)
    )
    skipped = product("B3", "No Instruction", 5.0)
    goals = synthetic_goals([shampoo, plain, skipped], {"B1": 23.5, "B2": 5.0, "B3": 5.0}, random.Random(0))
    assert len(goals) == 2 * 2 + 1
    # option names sorted: scent before size
    assert goals[0].instruction.startswith(
        "Find me sulfate free shampoo & conditioner with scent: lavender, and size: 8 fl oz, "
        "and price lower than "
    )
    assert [g.options for g in goals[:4]] == [
        ("lavender", "8 fl oz"),
        ("lavender", "16 fl oz"),
        ("rose", "8 fl oz"),
        ("rose", "16 fl oz"),
    ]
    assert len({g.price_upper for g in goals[:4]}) == 1  # one bound per product
    assert goals[4].instruction.startswith("Find me soap, and price lower than ") and goals[4].options == ()
    assert goals[4].name == "Plain Soap" and goals[4].attributes == ("soap",)


def test_human_goals_skip_instructions_without_attributes():
    humans = (
        HumanInstruction("i need a shampoo.", ("sulfate free",), ("lavender",)),
        HumanInstruction("anything", (), ()),
    )
    goals = human_goals(
        [product("B1", "Lumora Shampoo", 995.0, human_instructions=humans)], {"B1": 995.0}, random.Random(0)
    )
    assert len(goals) == 1
    assert (goals[0].instruction, goals[0].options, goals[0].price_upper) == (
        "i need a shampoo",
        ("lavender",),
        NO_PRICE_BOUND,
    )


def test_shuffle_is_fixed_by_the_seed():
    goals = list(range(100))
    assert shuffled(goals, 233) == shuffled(goals, 233) != tuple(goals)
    assert shuffled(goals, 1) != shuffled(goals, 233)
    with pytest.raises(ValueError):
        synthetic_goals([product("B1", "x", 1.0, instruction="Find me x")], {"B1": 1.0}, random.Random(0))
