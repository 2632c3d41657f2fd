"""The WebShop data model: products, shopping goals, and a catalogue holding both.

A `Catalogue` is what a catalogue source (`GeneratedCatalogue`, `OfficialCatalogue`) returns:
the products as the WebShop engine holds them after loading (title, description, bullet
points, options with lowercased values, price tag, attributes, ...), the price each product
sells at in this catalogue (a product listed with a price range gets one price drawn once, at
load), and the shuffled shopping goals. Everything here is a small frozen dataclass, so a
catalogue pickles.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

DEFAULT_PRICE = 100.0  # WebShop's price for a product without pricing


@dataclass(frozen=True)
class Review:
    """One customer review (shown on the Reviews sub-page)."""

    title: str
    score: int
    body: str


@dataclass(frozen=True)
class Product:
    """One product page.

    asin: the 10-character product id (upper case), shown on result pages.
    title: the product name (WebShop's `Title` / `name`).
    description: the Description sub-page text.
    bullets: the Features sub-page (WebShop's `BulletPoints`); the first one is indexed.
    pricing: one price, or a (low, high) range.
    price_tag: the price as shown: "$19.99" or "$19.99 to $27.99".
    options: option name (lowercased, e.g. "color") -> its values (lowercased), in page order.
    attributes: the product's attribute phrases (WebShop's `Attributes`), used by the reward.
    category: the coarse category (beauty, electronics, fashion, garden, grocery): the task type.
    query: the search query the product was scraped under ("women's dresses").
    product_category: the "›"-separated category path ("Clothing, Shoes & Jewelry › Women › ...").
    rating: the average rating as shown ("4.5"), or "N.A.".
    reviews: the Reviews sub-page.
    instruction: the synthetic-goal instruction written for this product, or None.
    instruction_attributes: the attributes that instruction asks for.
    human_instructions: human-written instructions for this product (official data).
    """

    asin: str
    title: str
    description: str
    bullets: tuple[str, ...]
    pricing: tuple[float, ...]
    price_tag: str
    options: Mapping[str, tuple[str, ...]]
    attributes: tuple[str, ...]
    category: str
    query: str
    product_category: str
    rating: str = "N.A."
    reviews: tuple[Review, ...] = ()
    instruction: str | None = None
    instruction_attributes: tuple[str, ...] = ()
    human_instructions: tuple[HumanInstruction, ...] = ()


@dataclass(frozen=True)
class HumanInstruction:
    """A human-written instruction for a product (WebShop's `items_human_ins.json` entry)."""

    text: str
    attributes: tuple[str, ...]
    options: tuple[str, ...]


@dataclass(frozen=True)
class Goal:
    """What to buy, and what the reward compares the purchase with.

    asin: the product the goal was written from (any product that matches scores the same).
    instruction: the instruction text shown to the agent.
    attributes: the goal attributes (each matched against the purchased product).
    options: the goal option values (each matched against the selected options).
    price_upper: the price bound (1e6 when the instruction states none).
    name: the goal product's title (for the title-noun part of the type reward).
    query, category, product_category: the goal product's, for the type reward and metrics.
    """

    asin: str
    instruction: str
    attributes: tuple[str, ...]
    options: tuple[str, ...]
    price_upper: float
    name: str
    query: str
    category: str
    product_category: str


@dataclass(frozen=True)
class Catalogue:
    """Products, the price each sells at, and the goals (already shuffled with a fixed seed).

    name: a short source name used in task uids ("generated-synthetic", "official-human", ...).
    """

    name: str
    products: tuple[Product, ...]
    prices: Mapping[str, float]
    goals: tuple[Goal, ...]
    by_asin: Mapping[str, Product] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_asin", {p.asin: p for p in self.products})


class CatalogueSource(Protocol):
    """A catalogue source: called once per process for the catalogue; `key()` identifies what
    it would return (same key, same catalogue) so that processes can share caches."""

    def __call__(self) -> Catalogue: ...

    def key(self) -> str: ...


def option_text(options: Mapping[str, Sequence[str]]) -> str:
    """The options as WebShop's search index reads them: "size: small, large, and color: red, blue"."""
    return ", and ".join(f"{name}: {', '.join(values)}" for name, values in options.items())


def search_document(product: Product) -> str:
    """The text the search engine indexes for a product: title, description, first bullet point
    and options, lowercased (WebShop's `contents` field)."""
    first_bullet = product.bullets[0] if product.bullets else ""
    return " ".join([product.title, product.description, first_bullet, option_text(product.options)]).lower()


def price_tag(pricing: Sequence[float]) -> str:
    """The price as shown: "$12.5" for one price, "$19.99 to $27.99" for a range (Python's float
    repr, as WebShop)."""
    if len(pricing) == 1:
        return f"${pricing[0]}"
    return f"${pricing[0]} to ${pricing[1]}"


def stable_key(*parts: object) -> str:
    """A short stable hash of JSON-able parts (for cache keys; never Python's `hash`)."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
