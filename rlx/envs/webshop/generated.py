"""A seeded synthetic WebShop catalogue: the embedded default (no download needed).

Products are drawn from the product kinds in `rlx.envs.webshop.taxonomy` (round-robin over
kinds, so every category is represented): a made-up brand, 2-4 instruction attributes from
the kind's pools plus 0-2 further attributes, a title that names some of them, a description
and bullet points that mention all of them, up to two option families with 2 to
`max_option_values` values each, a price (some clothing, bedding and rugs list a range),
and 0-4 reviews. Every product carries a WebShop-style synthetic instruction
("Find me sulfate free shampoo & conditioner with argan oil for dry hair"), so synthetic goals
are built exactly as for WebShop's data (one goal per option combination); `goals="human"`
instead writes one free-form instruction per product in the style of WebShop's human
instructions ("i need a sulfate free shampoo with argan oil for dry hair in lavender scent").

Deterministic in `seed`; 3,000 products and their goals build in well under a second.
"""

from __future__ import annotations

import math
import random
import string
from dataclasses import dataclass
from typing import Literal

from rlx.envs.webshop.catalogue import Catalogue, HumanInstruction, Product, Review, price_tag, stable_key
from rlx.envs.webshop.goals import human_goals, sale_prices, shuffled, synthetic_goals
from rlx.envs.webshop.taxonomy import KINDS, OPTION_FAMILIES, Kind

GENERATOR_VERSION = 1
SYLLABLES = (
    "lu",
    "ve",
    "ara",
    "bel",
    "cor",
    "dax",
    "el",
    "fio",
    "gra",
    "hal",
    "iso",
    "jun",
    "kai",
    "lor",
    "mav",
    "nor",
    "oro",
    "pax",
    "quin",
    "rae",
    "sol",
    "tav",
    "ul",
    "vio",
    "wyn",
    "zel",
    "mi",
    "sa",
    "ta",
    "ro",
    "ne",
    "ki",
    "do",
    "ba",
)
ENDINGS = (
    "mora",
    "xa",
    "lux",
    "via",
    "ton",
    "nix",
    "ra",
    "dell",
    "field",
    "wood",
    "ly",
    "co",
    "ette",
    "sio",
    "line",
    "craft",
    "ique",
    "ona",
    "ara",
    "on",
    "is",
    "en",
)
REVIEW_TITLES = {
    1: ("Disappointed", "Broke quickly", "Not as described"),
    2: ("Not great", "Expected better", "Runs small"),
    3: ("It's okay", "Decent for the price", "Average"),
    4: ("Good value", "Pretty good", "Works well"),
    5: ("Love it!", "Exactly what I needed", "Highly recommend", "Perfect"),
}
REVIEW_BODIES = {
    1: "The {noun} stopped working after a week. I would not buy it again.",
    2: "The {noun} is fine but the quality is lower than I hoped.",
    3: "It does the job. The {noun} looks a little different from the pictures.",
    4: "Nice {noun}, good quality for the money. Shipping was fast.",
    5: "This {noun} is great. {attr} as promised, and it arrived on time.",
}
CLOSING_LINES = (
    "Satisfaction guaranteed: contact us with any question and we will reply within 24 hours.",
    "A thoughtful gift for family and friends.",
    "Please allow slight differences in color due to lighting and monitor settings.",
    "Quality checked before shipping.",
)


def capitalize_words(text: str) -> str:
    """Upper-case each word's first letter: "women's v neck dress" -> "Women's V Neck Dress"
    (str.title would give "Women'S")."""
    return " ".join(w[:1].upper() + w[1:] for w in text.split())


def _brands(rng: random.Random, n: int) -> list[str]:
    names: dict[str, None] = {}
    while len(names) < n:
        name = rng.choice(SYLLABLES) + rng.choice(ENDINGS)
        names.setdefault(name.capitalize(), None)
    return list(names)


def _asin(rng: random.Random, taken: set[str]) -> str:
    while True:
        asin = "B0" + "".join(rng.choices(string.digits + string.ascii_uppercase, k=8))
        if asin not in taken:
            taken.add(asin)
            return asin


def _pricing(kind: Kind, rng: random.Random) -> tuple[float, ...]:
    low, high = kind.price
    price = math.floor(rng.uniform(low, high)) + rng.choice((0.99, 0.49, 0.95, 0.0, 0.89))
    if rng.random() < kind.ranged:
        top = math.floor(price * rng.uniform(1.15, 1.6)) + 0.99
        return (round(price, 2), round(top, 2))
    return (round(price, 2),)


def _options(kind: Kind, rng: random.Random, max_values: int) -> dict[str, tuple[str, ...]]:
    options: dict[str, tuple[str, ...]] = {}
    for family in kind.options:
        name, pool = OPTION_FAMILIES[family]
        if len(options) == 2 or name in options or rng.random() > 0.8:
            continue
        count = rng.randint(2, max(2, min(max_values, len(pool))))
        options[name] = tuple(pool[i] for i in sorted(rng.sample(range(len(pool)), count)))
    return options


def _instruction(query: str, pre: list[str], with_: list[str], for_: list[str]) -> str:
    """WebShop's synthetic instruction shape: "Find me <pre> <query> with <with> for <for>"."""
    text = "Find me " + (", ".join(pre) + " " if pre else "") + query
    text += f" with {', '.join(with_)}" if with_ else ""
    return text + (f" for {', '.join(for_)}" if for_ else "")


def _human_instruction(
    noun: str, pre: list[str], with_: list[str], for_: list[str], chosen: dict[str, str], rng: random.Random
) -> str:
    opener = rng.choice(
        ("i'm looking for", "i need", "i want to buy", "find me", "i am looking for", "can you find")
    )
    article = "" if noun.endswith("s") else ("an " if noun[0] in "aeiou" else "a ")
    text = f"{opener} {article}" + (" ".join(pre) + " " if pre else "") + noun
    text += f" with {' and '.join(with_)}" if with_ else ""
    text += f" for {' and '.join(for_)}" if for_ else ""
    if chosen:
        text += " in " + " and ".join(f"{value} {name.split()[0]}" for name, value in chosen.items())
    return text


@dataclass(frozen=True)
class _Attributes:
    """A product's attributes by where the instruction puts them, and extras it leaves out."""

    pre: list[str]
    with_: list[str]
    for_: list[str]
    extra: list[str]

    @property
    def wanted(self) -> list[str]:
        return self.pre + self.with_ + self.for_


def _attributes(kind: Kind, rng: random.Random) -> _Attributes:
    pool = [(a, "pre") for a in kind.pre] + [(a, "with") for a in kind.with_] + [(a, "for") for a in kind.for_]
    picked = rng.sample(pool, rng.randint(2, 4))
    chosen = [a for a, _ in picked]
    extra = [a for a, _ in rng.sample(pool, 2) if a not in chosen][: rng.randint(0, 2)]
    return _Attributes(*([a for a, slot in picked if slot == s] for s in ("pre", "with", "for")), extra)


def _texts(brand: str, noun: str, attrs: _Attributes, rng: random.Random) -> tuple[str, str, tuple[str, ...]]:
    """Title, description and bullet points; together they mention every attribute."""
    title = [brand, *(capitalize_words(a) for a in attrs.pre), capitalize_words(noun)]
    if attrs.with_:
        title.append("with " + capitalize_words(attrs.with_[0]))
    if attrs.for_:
        title.append("for " + " and ".join(capitalize_words(a) for a in attrs.for_))
    description = [f"The {brand} {noun} is made for everyday use."]
    if attrs.pre or attrs.extra:
        description.append(f"Features: {', '.join(attrs.pre + attrs.extra)}.")
    if attrs.with_:
        description.append(f"Made with {' and '.join(attrs.with_)}.")
    if attrs.for_:
        description.append(f"Ideal for {' and '.join(attrs.for_)}.")
    description.append(rng.choice(CLOSING_LINES))
    bullets = [f"{capitalize_words(a)}: this {noun} is {a}." for a in attrs.pre]
    bullets += [f"{capitalize_words(a)}: made with {a}." for a in attrs.with_]
    bullets += [f"Made for {a}." for a in attrs.for_] + [f"{capitalize_words(a)}." for a in attrs.extra]
    rng.shuffle(bullets)
    return " ".join(title), " ".join(description), (*bullets, f"Package includes: 1 x {noun}.")


def _reviews(noun: str, attrs: _Attributes, rng: random.Random) -> tuple[Review, ...]:
    reviews = []
    for _ in range(rng.choice((0, 0, 1, 2, 3, 4))):
        score = rng.choices((1, 2, 3, 4, 5), weights=(5, 7, 13, 30, 45))[0]
        body = REVIEW_BODIES[score].format(noun=noun, attr=capitalize_words(rng.choice(attrs.wanted)))
        reviews.append(Review(rng.choice(REVIEW_TITLES[score]), score, body))
    return tuple(reviews)


def _product(kind: Kind, brand: str, asin: str, rng: random.Random, max_values: int, human: bool) -> Product:
    noun = rng.choice(kind.nouns)
    attrs = _attributes(kind, rng)
    title, description, bullets = _texts(brand, noun, attrs, rng)
    options = _options(kind, rng, max_values)
    pricing = _pricing(kind, rng)
    reviews = _reviews(noun, attrs, rng)
    human_instructions = ()
    if human:
        chosen = {name: rng.choice(values) for name, values in options.items()}
        text = _human_instruction(noun, attrs.pre, attrs.with_, attrs.for_, chosen, rng)
        human_instructions = (HumanInstruction(text, tuple(attrs.wanted), tuple(chosen.values())),)
    return Product(
        asin=asin,
        title=title,
        description=description,
        bullets=bullets,
        pricing=pricing,
        price_tag=price_tag(pricing),
        options=options,
        attributes=(noun, *attrs.wanted, *attrs.extra),
        category=kind.category,
        query=kind.query,
        product_category=kind.path,
        rating=f"{sum(r.score for r in reviews) / len(reviews):.1f}" if reviews else "N.A.",
        reviews=reviews,
        instruction=_instruction(kind.query, attrs.pre, attrs.with_, attrs.for_),
        instruction_attributes=tuple(attrs.wanted),
        human_instructions=human_instructions,
    )


class GeneratedCatalogue:
    """A catalogue source: a seeded synthetic catalogue (see the module docstring).

    num_products: how many products (spread round-robin over the product kinds).
    goals: "synthetic" (one goal per option combination of each product, WebShop's
        synthetic goals) or "human" (one free-form instruction per product).
    max_option_values: at most this many values per option (bounds the goals per product).
    seed: everything (products, sale prices, price bounds, goal shuffle) follows from it.
    """

    def __init__(
        self,
        num_products: int = 3000,
        goals: Literal["synthetic", "human"] = "synthetic",
        max_option_values: int = 4,
        seed: int = 0,
    ):
        if num_products < 1 or max_option_values < 2:
            raise ValueError("num_products must be >= 1 and max_option_values >= 2")
        self.num_products, self.goals, self.max_option_values, self.seed = (
            num_products,
            goals,
            max_option_values,
            seed,
        )

    def key(self) -> str:
        return stable_key(
            "generated", GENERATOR_VERSION, self.num_products, self.goals, self.max_option_values, self.seed
        )

    def __call__(self) -> Catalogue:
        rng = random.Random(self.seed)
        brands = {category: _brands(rng, 40) for category in sorted({k.category for k in KINDS})}
        taken: set[str] = set()
        products = []
        for i in range(self.num_products):
            kind = KINDS[i % len(KINDS)]
            brand = rng.choice(brands[kind.category])
            products.append(
                _product(kind, brand, _asin(rng, taken), rng, self.max_option_values, self.goals == "human")
            )
        prices = sale_prices(products, rng)
        build = human_goals if self.goals == "human" else synthetic_goals
        goals = shuffled(build(products, prices, rng), self.seed)
        return Catalogue(f"generated-{self.goals}", tuple(products), prices, goals)
