"""WebShop's pages as text: the visible strings of each page joined by " [SEP] ", and what can
be clicked on it (the text observation mode of WebShop's `WebAgentTextEnv`).

    search   WebShop [SEP] Instruction: [SEP] <instruction> [SEP] Search
    results  Instruction: [SEP] <instruction> [SEP] Back to Search [SEP] Page 2 (Total results: 50)
             [SEP] < Prev [SEP] Next > [SEP] <ASIN> [SEP] <title> [SEP] <price> [SEP] ...
    item     Instruction: [SEP] <instruction> [SEP] Back to Search [SEP] < Prev [SEP] <option name>
             [SEP] <value> ... [SEP] <title> [SEP] Price: <price> [SEP] Rating: <rating>
             [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now
    sub-page Instruction: [SEP] <instruction> [SEP] Back to Search [SEP] < Prev [SEP] <content>
    done     Thank you for shopping with us! [SEP] Your score (min 0.0, max 1.0) [SEP] <reward>

Clickables are keyed by their lowercased text: buttons ("back to search", "< prev", "next >",
"description", ..., "buy now"), product links (lowercased ASINs) and option values (an option
value shadows a button or another option's value with the same text, as in WebShop). "< Prev"
shows from results page 2 on; "Next >" only while a further page of results exists. Empty
strings (a product without a description) are left out of the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from rlx.envs.webshop.catalogue import Product

BACK_TO_SEARCH = "Back to Search"
NEXT_PAGE = "Next >"
PREV_PAGE = "< Prev"
BUY_NOW = "Buy Now"
SUB_PAGES = ("Description", "Features", "Reviews")
ATTRIBUTES = "Attributes"
SEP = " [SEP] "

PageKind = Literal["search", "results", "item", "sub", "done"]


@dataclass(frozen=True)
class Click:
    """What a clickable does: press a button, open a product, or select an option value."""

    kind: Literal["button", "product", "option"]
    target: str  # button label, ASIN, or option name
    value: str = ""  # the option value (kind "option")


@dataclass(frozen=True)
class View:
    """A rendered page: visible text segments, clickables, and whether it has a search bar."""

    segments: tuple[str, ...]
    clickables: Mapping[str, Click]
    search_bar: bool = False

    @property
    def text(self) -> str:
        return SEP.join(s for s in self.segments if s)

    def admissible(self) -> tuple[str, ...]:
        """The actions to list for the policy: "search[<your query>]" on pages with a search
        bar, then "click[<clickable>]" in page order."""
        actions = ["search[<your query>]"] if self.search_bar else []
        return tuple(actions + [f"click[{name}]" for name in self.clickables])


def _buttons(*labels: str) -> dict[str, Click]:
    return {label.lower(): Click("button", label) for label in labels}


def _header(instruction: str) -> tuple[str, ...]:
    return ("Instruction:", instruction, BACK_TO_SEARCH)


def search_page(instruction: str) -> View:
    return View(("WebShop", "Instruction:", instruction, "Search"), {}, search_bar=True)


def results_page(instruction: str, page: int, total: int, products: Sequence[Product], page_size: int) -> View:
    """Page `page` (1-based) of `total` results; `products` are the ones on this page."""
    segments = [*_header(instruction), f"Page {page} (Total results: {total})"]
    clicks = _buttons(BACK_TO_SEARCH)
    if page > 1:
        segments.append(PREV_PAGE)
        clicks.update(_buttons(PREV_PAGE))
    if page * page_size < total:
        segments.append(NEXT_PAGE)
        clicks.update(_buttons(NEXT_PAGE))
    for product in products:
        segments += [product.asin, product.title, product.price_tag]
        clicks[product.asin.lower()] = Click("product", product.asin)
    return View(tuple(segments), clicks)


def item_page(instruction: str, product: Product, show_attributes: bool = False) -> View:
    segments = [*_header(instruction), PREV_PAGE]
    for name, values in product.options.items():
        segments += [name, *values]
    segments += [product.title, f"Price: {product.price_tag}", f"Rating: {product.rating}"]
    sub_pages = SUB_PAGES + ((ATTRIBUTES,) if show_attributes else ())
    segments += [*sub_pages, BUY_NOW]
    clicks = _buttons(BACK_TO_SEARCH, PREV_PAGE, *sub_pages, BUY_NOW)
    for name, values in product.options.items():
        for value in values:
            clicks[value] = Click("option", name, value)
    return View(tuple(segments), clicks)


def sub_page(instruction: str, product: Product, sub: str) -> View:
    """The Description / Features / Reviews / Attributes page of `product`."""
    if sub == "Description":
        content: list[str] = [product.description]
    elif sub == "Features":
        content = list(product.bullets)
    elif sub == "Reviews":
        content = [part for r in product.reviews for part in (f'"{r.title}"', str(r.score), r.body)]
    elif sub == ATTRIBUTES:
        content = list(product.attributes)
    else:
        raise ValueError(f"unknown sub-page {sub!r}")
    segments = (*_header(instruction), PREV_PAGE, *(c.strip() for c in content))
    return View(segments, _buttons(BACK_TO_SEARCH, PREV_PAGE))


def done_page(reward: float) -> View:
    return View(("Thank you for shopping with us!", "Your score (min 0.0, max 1.0)", f"{reward}"), {})
