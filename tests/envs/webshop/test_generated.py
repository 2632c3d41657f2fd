import collections
import math
import time

import pytest

from rlx.envs.webshop import GeneratedCatalogue, WebShopEnv
from rlx.envs.webshop.taxonomy import CATEGORIES, KINDS


@pytest.fixture(scope="module")
def catalogue():
    return GeneratedCatalogue()()  # the env=webshop default: 3,000 products


def test_builds_fast_and_deterministically():
    start = time.perf_counter()
    first = GeneratedCatalogue(num_products=3000, seed=7)()
    assert time.perf_counter() - start < 5.0  # ~0.3 s here
    assert GeneratedCatalogue(num_products=3000, seed=7)() == first
    other = GeneratedCatalogue(num_products=3000, seed=8)()
    assert [p.title for p in other.products] != [p.title for p in first.products]


def test_catalogue_shape(catalogue):
    products = catalogue.products
    assert len(products) == 3000 and len({p.asin for p in products}) == 3000
    assert all(len(p.asin) == 10 and p.asin.startswith("B0") and p.asin.isupper() for p in products)
    per_category = collections.Counter(p.category for p in products)
    assert set(per_category) == set(CATEGORIES) and min(per_category.values()) >= 400
    assert len({p.query for p in products}) == len(KINDS)
    assert all(len(p.product_category.split(" › ")) >= 3 for p in products)
    assert 0.1 < sum(len(p.pricing) == 2 for p in products) / 3000 < 0.4  # some list a price range
    assert all(p.pricing[0] < p.pricing[-1] or len(p.pricing) == 1 for p in products)
    assert all(p.price_tag.startswith("$") for p in products)
    assert sum(bool(p.options) for p in products) / 3000 > 0.8
    assert all(2 <= len(values) <= 4 for p in products for values in p.options.values())
    assert all(
        p.instruction and p.instruction.startswith("Find me ") and p.instruction_attributes for p in products
    )
    assert all(set(p.instruction_attributes) <= set(p.attributes) for p in products)
    text = [(p.title + " " + p.description + " " + " ".join(p.bullets)).lower() for p in products]
    assert all(a in t for p, t in zip(products, text) for a in p.instruction_attributes)  # readable on the page
    assert sum(bool(p.reviews) for p in products) > 1000


def test_synthetic_goals_cover_every_option_combination(catalogue):
    combos = sum(math.prod(len(v) for v in p.options.values()) for p in catalogue.products)
    assert len(catalogue.goals) == combos
    assert collections.Counter(g.category for g in catalogue.goals).keys() == set(CATEGORIES)


def test_human_style_goals():
    catalogue = GeneratedCatalogue(num_products=200, goals="human", seed=2)()
    assert len(catalogue.goals) == 200 and catalogue.name == "generated-human"
    openers = ("i'm looking for", "i need", "i want to buy", "find me", "i am looking for", "can you find")
    assert all(g.instruction.startswith(openers) for g in catalogue.goals)
    for goal in catalogue.goals:
        assert len(goal.options) == len(catalogue.by_asin[goal.asin].options)
        assert all(v in goal.instruction for v in goal.options)


def solve(env, task):
    """An expert: search the goal product's title, open it, click the goal options, buy."""
    goal = env.shop.goals[task.uid]
    product = env.shop.catalogue.by_asin[goal.asin]
    env.reset(task, seed=0)
    step = env.step(f"search[{product.title}]")
    while f"click[{goal.asin.lower()}]" not in step.observation.admissible:
        step = env.step("click[next >]")
        assert step.action_valid, "goal product not in the 50 results for its own title"
    env.step(f"click[{goal.asin.lower()}]")
    for value in goal.options:
        env.step(f"click[{value}]")
    return env.step("click[buy now]")


def test_an_expert_solves_every_sampled_goal():
    env = WebShopEnv(GeneratedCatalogue())
    tasks = list(env.tasks("eval")[:40]) + list(env.tasks("train")[:40])
    finals = [solve(env, task) for task in tasks]
    assert all(s.won and s.reward == 1.0 and s.terminated for s in finals)


def test_env_steps_per_second():
    """A loose floor (the measured rate is in the thousands): catches a pathological slowdown."""
    env = WebShopEnv(GeneratedCatalogue())
    tasks = env.tasks("train")
    steps, start = 0, time.perf_counter()
    for task in tasks[:60]:
        env.reset(task, seed=0)
        for action in (f"search[{task.prompt}]", "click[next >]", "click[< prev]", "click[back to search]"):
            env.step(action)
            steps += 1
    assert steps / (time.perf_counter() - start) > 100
