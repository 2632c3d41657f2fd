"""WebShop's reward for a purchase (Yao et al. 2022, "WebShop", arXiv 2207.01206, Sec. 3.2;
`get_reward` in princeton-nlp/WebShop's web_agent_site/engine/goal.py).

    reward = r_type * (attribute matches + option matches + price_ok) / (|attributes| + |options| + 1)

- attribute g matches when one of the product's attributes has thefuzz `token_set_ratio > 85`
  with g, or g is a substring of the lowercased title, bullet points or description;
- goal option g matches when some *selected* option value does (`token_set_ratio > 85`),
  both sides colour-normalised (`normalize_color`); no options selected -> no matches;
- price_ok: the sale price is at most the goal's bound;
- r_type (`type_reward`): 1.0, lowered to 0.5 when neither the search query, nor two pieces of
  the "›" category path, nor the title nouns (overlap > 0.2) agree; 0.1 when the title-noun
  overlap is below 0.1, 0.0 when it is 0.

Success is reward == 1.0. thefuzz (the `[webshop]` extra) is imported on first use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rlx.envs.webshop.catalogue import Goal, Product

FUZZY_THRESHOLD = 85

# Colour words (our own list, alphabetical). `normalize_color` replaces an option value by the
# first of these that occurs in it as a substring, as WebShop's normalisation does: "light blue"
# -> "blue", "rose gold" -> "gold" (the alphabetical order decides between two colours).
# fmt: off
COLORS = (
    "amber", "apricot", "aqua", "azure", "beige", "black", "blue", "blush", "bronze", "brown",
    "burgundy", "camel", "camo", "caramel", "champagne", "charcoal", "cherry", "chestnut",
    "chocolate", "coffee", "cognac", "copper", "coral", "cream", "cyan", "denim", "emerald",
    "espresso", "fuchsia", "gold", "graphite", "gray", "green", "grey", "indigo", "ivory", "khaki",
    "lavender", "lemon", "leopard", "lilac", "lime", "magenta", "mahogany", "maroon", "mauve",
    "mint", "mocha", "multicolor", "mustard", "navy", "nude", "oak", "olive", "orange", "peach",
    "pewter", "pink", "plum", "purple", "rainbow", "red", "rose", "rust", "sage", "sand",
    "sapphire", "silver", "slate", "steel", "tan", "taupe", "teal", "turquoise", "violet",
    "walnut", "wheat", "white", "wine", "yellow",
)
# fmt: on

# --- the title-noun heuristic (WebShop tags words with spaCy's POS tagger; no spaCy model here) --
# A title's "nouns" are its lowercased alphabetic words of two or more letters, minus function
# words and number words, minus common title adjectives and colours, minus words longer than five
# letters ending like an adjective or adverb (-ful, -less, -ous, -ive, -able, -ible, -ish, -ly).
# Product titles are mostly noun phrases ("Reclaimed Wood Console Table"), so what is left is
# close to what spaCy tags NOUN/PROPN; it errs on the side of keeping a word.
FUNCTION_WORDS = frozenset(
    "a an and are as at be but by for from has have if in into is it its no not of on or our so "
    "such that the their then there these they this those to up was were will with without you "
    "your my me we us he she his her all any each every both more most other some than too very "
    "can may per via plus etc also only just about over under out off one two three four five six "
    "seven eight nine ten".split()
)
TITLE_ADJECTIVES = frozenset(
    "new best good great high low big small large little long short tall wide mini extra super "
    "soft hard light heavy dark bright thin thick full half double single real pure fresh natural "
    "organic premium classic modern vintage casual formal cute sexy elegant simple basic easy quick "
    "fast slow hot cold warm cool dry wet clean clear free fit slim loose tight durable "
    "portable adjustable waterproof wireless compact professional original certified deluxe "
    "ultra multi non anti pro womens mens kids baby unisex".split()
) | frozenset(COLORS)
ADJECTIVE_ENDINGS = ("ful", "less", "ous", "ive", "able", "ible", "ish", "ly")


def title_nouns(title: str) -> set[str]:
    """The noun-like words of a product title (documented heuristic above).

    "Vhomes Lights Reclaimed Wood Console Table" -> {"vhomes", "lights", "reclaimed", "wood",
    "console", "table"}; "Soft Black Cotton T-Shirt for Women" -> {"cotton", "shirt", "women"}.
    """
    words = re.findall(r"[a-z]+", title.lower())
    return {
        w
        for w in words
        if len(w) > 1
        and w not in FUNCTION_WORDS
        and w not in TITLE_ADJECTIVES
        and not (len(w) > 5 and w.endswith(ADJECTIVE_ENDINGS))
    }


def normalize_color(value: str) -> str:
    """The first colour word in `value` (substring match, `COLORS` order), else `value` itself."""
    for color in COLORS:
        if color in value:
            return color
    return value


def _token_set_ratio() -> Callable[[str, str], float]:
    try:
        from thefuzz import fuzz
    except ImportError as err:
        raise ImportError(
            "WebShop's reward needs thefuzz (fuzzy attribute/option matching): "
            "pip install 'rlx[webshop]'  (or: pip install thefuzz)"
        ) from err
    return fuzz.token_set_ratio


@dataclass(frozen=True)
class TypeMatch:
    """r_type and its parts."""

    r_type: float
    query_match: bool
    category_match: bool
    title_score: float


def type_reward(purchased: Product, goal: Goal) -> TypeMatch:
    """Is the purchase the right *kind* of product? (WebShop's `get_type_reward`.)"""
    query_match = purchased.query == goal.query
    pieces = {x.strip() for x in purchased.product_category.split("›")}
    goal_pieces = {x.strip() for x in goal.product_category.split("›")}
    category_match = len(pieces & goal_pieces) >= 2
    goal_nouns = title_nouns(goal.name)
    if goal_nouns:
        title_score = len(title_nouns(purchased.title) & goal_nouns) / len(goal_nouns)
    else:
        title_score = 0.2
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return TypeMatch(r_type, query_match, category_match, title_score)


def attribute_matches(purchased: Product, goal_attributes: Sequence[str]) -> int:
    """How many goal attributes the product has (fuzzy on its attributes, or a text substring)."""
    ratio = _token_set_ratio()
    title = purchased.title.lower()
    bullets = " ".join(purchased.bullets).lower()
    description = purchased.description.lower()
    count = 0
    for wanted in goal_attributes:
        if any(ratio(have, wanted) > FUZZY_THRESHOLD for have in purchased.attributes):
            count += 1
        elif wanted in title or wanted in bullets or wanted in description:
            count += 1
    return count


def option_matches(selected: Sequence[str], goal_options: Sequence[str]) -> int:
    """How many goal option values some selected value matches (colour-normalised, fuzzy)."""
    ratio = _token_set_ratio()
    chosen = [normalize_color(v) for v in selected]
    count = 0
    for wanted in goal_options:
        wanted = normalize_color(wanted)
        if any(ratio(have, wanted) > FUZZY_THRESHOLD for have in chosen):
            count += 1
    return count


@dataclass(frozen=True)
class Purchase:
    """The reward of one purchase and its parts (logged in the step info)."""

    reward: float
    r_type: float
    attribute_matches: int
    option_matches: int
    price_ok: bool
    query_match: bool
    category_match: bool
    title_score: float


def purchase_reward(purchased: Product, price: float, selected: Mapping[str, str], goal: Goal) -> Purchase:
    """WebShop's reward for buying `purchased` at `price` with options `selected` (name -> value)."""
    kind = type_reward(purchased, goal)
    attrs = attribute_matches(purchased, goal.attributes)
    opts = option_matches(list(selected.values()), goal.options)
    price_ok = price <= goal.price_upper
    total = len(goal.attributes) + len(goal.options) + 1
    reward = kind.r_type * (attrs + opts + int(price_ok)) / total
    return Purchase(
        reward, kind.r_type, attrs, opts, price_ok, kind.query_match, kind.category_match, kind.title_score
    )
