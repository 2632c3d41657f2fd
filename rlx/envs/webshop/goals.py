"""Prices and shopping goals, built the way WebShop builds them (engine.py / goal.py in
princeton-nlp/WebShop, Yao et al. 2022, arXiv 2207.01206).

- Sale price: a product's single price; a product listed with a range sells at a price
  drawn uniformly in the range, once per catalogue; no pricing -> $100.
- Price bound: take the first four steps of PRICE_RANGE (10, 20, ..., 990) above the price;
  with at least two, draw two of them and keep the larger as the bound, and the instruction
  ends with ", and price lower than X.00 dollars"; otherwise no bound (1e6) and no text.
- Synthetic goals: one goal per combination of a product's option values (option names in
  sorted order): "<product instruction> with color: red, and size: large<price text>".
- Human goals: one goal per human-written instruction with at least one attribute:
  "<instruction without trailing periods><price text>", goal options as written.
- Goals are then shuffled with a fixed seed; the reference split is test 0-499,
  eval ("dev") 500-1499, train the rest (see `WebShopEnv`).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Mapping, Sequence

from rlx.envs.webshop.catalogue import DEFAULT_PRICE, Goal, Product

PRICE_RANGE = tuple(10.0 * i for i in range(1, 100))
NO_PRICE_BOUND = 1_000_000.0


def sale_price(pricing: Sequence[float], rng: random.Random) -> float:
    """The price a product sells at: its price, or a uniform draw in its (low, high) range."""
    if not pricing:
        return DEFAULT_PRICE
    if len(pricing) == 1:
        return float(pricing[0])
    return rng.uniform(pricing[0], pricing[1])


def sale_prices(products: Iterable[Product], rng: random.Random) -> dict[str, float]:
    """asin -> sale price, drawn in product order."""
    return {p.asin: sale_price(p.pricing, rng) for p in products}


def price_bound(price: float, rng: random.Random) -> tuple[float, str]:
    """(price_upper, instruction suffix) for a product selling at `price`."""
    steps = [p for p in PRICE_RANGE if p > price][:4]
    if len(steps) < 2:
        return NO_PRICE_BOUND, ""
    upper = max(rng.sample(steps, 2))
    return upper, f", and price lower than {upper:.2f} dollars"


def _goal(product: Product, text: str, attributes: Sequence[str], options: Sequence[str], upper: float) -> Goal:
    return Goal(
        asin=product.asin,
        instruction=text,
        attributes=tuple(attributes),
        options=tuple(options),
        price_upper=upper,
        name=product.title,
        query=product.query,
        category=product.category,
        product_category=product.product_category,
    )


def synthetic_goals(products: Iterable[Product], prices: Mapping[str, float], rng: random.Random) -> list[Goal]:
    """One goal per option-value combination of every product that has an instruction."""
    goals = []
    for product in products:
        if not product.instruction:
            continue
        if not product.instruction_attributes:
            raise ValueError(f"product {product.asin} has an instruction but no instruction attributes")
        upper, price_text = price_bound(prices[product.asin], rng)
        names = sorted(product.options)
        for values in itertools.product(*(product.options[n] for n in names)):
            with_text = ", and ".join(f"{n}: {v}" for n, v in zip(names, values))
            with_text = f" with {with_text}" if with_text else ""
            text = f"{product.instruction}{with_text}{price_text}"
            goals.append(_goal(product, text, product.instruction_attributes, values, upper))
    return goals


def human_goals(products: Iterable[Product], prices: Mapping[str, float], rng: random.Random) -> list[Goal]:
    """One goal per human instruction that names at least one attribute."""
    goals = []
    for product in products:
        for human in product.human_instructions:
            if not human.attributes:
                continue
            upper, price_text = price_bound(prices[product.asin], rng)
            text = human.text.strip(".") + price_text
            goals.append(_goal(product, text, human.attributes, human.options, upper))
    return goals


def shuffled(goals: Sequence[Goal], seed: int) -> tuple[Goal, ...]:
    """The goals in a fixed-seed shuffled order (WebShop shuffles with seed 233)."""
    order = list(goals)
    random.Random(seed).shuffle(order)
    return tuple(order)
