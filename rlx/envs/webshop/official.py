"""WebShop's own data files as a catalogue (princeton-nlp/WebShop's `setup.sh` downloads them).

- products (`items_shuffle_1000.json` or the full `items_shuffle.json`): a JSON list of scraped
  records {asin, name, full_description, small_description, pricing ("$19.99 to $27.99", or
  already parsed to [19.99, 27.99]), customization_options {name: [{value, ...}] | null},
  category, query, product_category, ...};
- attributes (`items_ins_v2_1000.json` / `items_ins_v2.json`): asin -> {attributes, and for
  products with a synthetic instruction: instruction, instruction_attributes};
- human instructions (`items_human_ins.json`, 12,087 instructions): asin -> [{instruction,
  instruction_attributes, instruction_options, ...}];
- reviews (`reviews.json`, optional): [{asin, reviews: [{title, stars|score, review|body}],
  average_rating}].

Records are cleaned the way WebShop's `load_products` does: ASINs "nan" or longer than 10
characters and repeated ASINs are skipped, option names and values are lowercased ("/" in a
value becomes " | "), a product without pricing costs $100, a product without an attributes
entry gets ["DUMMY_ATTR"], queries are lowercased.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from rlx.envs.webshop.catalogue import (
    DEFAULT_PRICE,
    Catalogue,
    HumanInstruction,
    Product,
    Review,
    price_tag,
    stable_key,
)
from rlx.envs.webshop.goals import human_goals, sale_prices, shuffled, synthetic_goals

HOW = (
    "Download WebShop's data with princeton-nlp/WebShop's setup.sh (`./setup.sh -d small` for the "
    "1,000-product files, `-d all` for the full catalogue) into a directory, then "
    "export RLX_WEBSHOP_DATA=<that directory> (env.catalogue.data_dir; it holds "
    "items_shuffle_1000.json, items_ins_v2_1000.json and items_human_ins.json), and name files "
    "called otherwise with env.catalogue.products_path=... / attributes_path=... / "
    "human_instructions_path=... (relative to data_dir, or absolute)."
)
FILES = {  # key -> what the file is
    "products_path": "WebShop products file (items_shuffle*.json)",
    "attributes_path": "WebShop attributes file (items_ins_v2*.json)",
    "human_instructions_path": "WebShop human instructions file (items_human_ins.json)",
    "reviews_path": "WebShop reviews file (reviews.json)",
}
WITHOUT_HUMAN = (
    "env.catalogue.goals=synthetic does without it (one goal per option combination of each "
    "product whose attributes entry has an instruction)"
)


def resolve(data_dir: str | None, path: str | None) -> str | None:
    """`path` under `data_dir` (a relative path; an absolute one or data_dir None: as given)."""
    if path is None:
        return None
    path = os.path.expanduser(os.path.expandvars(str(path)))
    if data_dir is None:
        return path
    return os.path.join(os.path.expanduser(os.path.expandvars(str(data_dir))), path)


def parse_pricing(pricing: Any) -> list[float]:
    """[price] or [low, high] from "$19.99 to $27.99" / "$1,299.00" / [19.99, 27.99]; [] if none."""
    if not pricing:
        return []
    if isinstance(pricing, (list, tuple)):
        return [float(p) for p in pricing[:2]]
    numbers = [re.sub(r"[^\d.]", "", chunk) for chunk in str(pricing).split("$")[1:]]
    return [float(n) for n in numbers if n.strip(".")][:2]


def parse_options(customization: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    """{lowercased option name: lowercased values} from WebShop's `customization_options`."""
    options = {}
    for name, contents in (customization or {}).items():
        if contents is None:
            continue
        values = [str(c["value"]).strip().replace("/", " | ").lower() for c in contents]
        options[name.lower()] = tuple(values)
    return options


def _reviews(raw: Any) -> tuple[Review, ...]:
    reviews = []
    for r in raw or ():
        score = r.get("score", r.get("stars", 0))
        body = r.get("body", r.get("review", ""))
        reviews.append(Review(str(r.get("title", "")), int(float(score or 0)), str(body or "")))
    return tuple(reviews)


def _read_json(path: str, what: str) -> Any:
    local = Path(os.path.expanduser(path))
    if not local.is_file():
        raise FileNotFoundError(f"{what} not found at '{path}'. {HOW}")
    with open(local, encoding="utf-8") as f:
        return json.load(f)


def parse_product(
    record: Mapping[str, Any],
    attributes: Mapping[str, Any],
    human: Mapping[str, Any],
    reviews: Mapping[str, Any] | None,
) -> Product:
    """One raw WebShop product record -> `Product` (see the module docstring)."""
    asin = str(record["asin"])
    pricing = parse_pricing(record.get("pricing")) or [DEFAULT_PRICE]
    bullets = record.get("small_description") or []
    bullets = bullets if isinstance(bullets, list) else [bullets]
    entry = attributes.get(asin, {})
    if reviews is not None:
        review_entry = reviews.get(asin, {})
        product_reviews, rating = _reviews(review_entry.get("reviews")), review_entry.get(
            "average_rating", "N.A."
        )
    else:  # records already processed by WebShop's loader carry their reviews
        product_reviews, rating = _reviews(record.get("Reviews")), record.get("Rating", "N.A.")
    return Product(
        asin=asin,
        title=str(record.get("name", "")),
        description=str(record.get("full_description") or ""),
        bullets=tuple(str(b) for b in bullets),
        pricing=tuple(pricing),
        price_tag=price_tag(pricing),
        options=parse_options(record.get("customization_options")),
        attributes=tuple(entry["attributes"] if "attributes" in entry else ["DUMMY_ATTR"]),
        category=str(record.get("category", "")),
        query=str(record.get("query", "")).lower().strip(),
        product_category=str(record.get("product_category", "")),
        rating=str(rating if rating not in (None, "") else "N.A."),
        reviews=product_reviews,
        instruction=entry.get("instruction"),
        instruction_attributes=tuple(entry.get("instruction_attributes") or ()),
        human_instructions=tuple(
            HumanInstruction(
                str(h["instruction"]),
                tuple(h.get("instruction_attributes") or ()),
                tuple(h.get("instruction_options") or ()),
            )
            for h in human.get(asin, ())
        ),
    )


class OfficialCatalogue:
    """A catalogue source: WebShop's product, attribute, instruction (and review) files.

    data_dir: the folder holding the files ($RLX_WEBSHOP_DATA in conf/env/webshop_official.yaml);
        the paths below are relative to it (an absolute path is used as it is). None: the
        paths are used as given.
    products_path, attributes_path: the products and attributes files (any names).
    goals: "human" (one goal per human instruction; needs `human_instructions_path`) or
        "synthetic" (one goal per option combination of each product with an instruction in
        the attributes file; products + attributes are enough, `human_instructions_path` is
        not read).
    human_instructions_path: items_human_ins.json (read for human goals only).
    reviews_path: reviews.json; None shows the reviews the records carry (usually none).
    num_products: keep the first N product records (WebShop's `num_products`); None keeps all.
    seed: seeds the sale prices of ranged products, the goals' price bounds and the goal
        shuffle (WebShop shuffles with 233).

    Construction reads nothing: `preflight` (run by config validation before a run starts)
    and the first `__call__` check that the files the chosen goals need exist, naming the
    missing file, its key, and for a missing human instructions file the goals choice that
    does without it.
    """

    def __init__(
        self,
        products_path: str,
        attributes_path: str,
        goals: Literal["human", "synthetic"] = "human",
        human_instructions_path: str | None = None,
        reviews_path: str | None = None,
        num_products: int | None = None,
        seed: int = 233,
        data_dir: str | None = None,
    ):
        if goals == "human" and human_instructions_path is None:
            raise ValueError("goals=human needs human_instructions_path (items_human_ins.json); "
                             f"{WITHOUT_HUMAN}. {HOW}")
        self.products_path = resolve(data_dir, products_path)
        self.attributes_path = resolve(data_dir, attributes_path)
        self.goals = goals
        self.human_instructions_path = resolve(data_dir, human_instructions_path)
        self.reviews_path = resolve(data_dir, reviews_path)
        self.num_products, self.seed = num_products, seed

    @classmethod
    def preflight(cls, **config: Any) -> None:
        """Config validation's check (`rlx.config.preflight`): the files exist; nothing is read."""
        cls(**config).check_files()

    def needed(self) -> dict[str, str | None]:
        """key -> resolved path of the files the chosen goals read (None: not configured)."""
        keys = ["products_path", "attributes_path"] + (["human_instructions_path"] if self.goals == "human" else [])
        return {k: getattr(self, k) for k in keys + (["reviews_path"] if self.reviews_path else [])}

    def check_files(self) -> None:
        """FileNotFoundError naming every missing file, its key, and what to do."""
        missing = []
        for key, path in self.needed().items():
            if not os.path.isfile(path):
                extra = f"; goals=human reads it, {WITHOUT_HUMAN}" if key == "human_instructions_path" else ""
                missing.append(f"{FILES[key]} not found at '{path}' ({key}{extra})")
        if missing:
            raise FileNotFoundError("; ".join(missing) + f". {HOW}")

    def key(self) -> str:
        paths = [self.products_path, self.attributes_path, self.human_instructions_path, self.reviews_path]
        stats = []
        for path in paths:
            if path is not None and os.path.exists(os.path.expanduser(path)):
                st = os.stat(os.path.expanduser(path))
                stats.append([os.path.abspath(os.path.expanduser(path)), st.st_size, st.st_mtime_ns])
            else:
                stats.append(path)
        return stable_key("official", stats, self.goals, self.num_products, self.seed)

    def __call__(self) -> Catalogue:
        self.check_files()
        records = _read_json(self.products_path, "WebShop products file")
        attributes = _read_json(self.attributes_path, "WebShop attributes file")
        human = (
            _read_json(self.human_instructions_path, "WebShop human instructions file")
            if self.goals == "human"
            else {}
        )
        reviews = None
        if self.reviews_path is not None:
            reviews = {r["asin"]: r for r in _read_json(self.reviews_path, "WebShop reviews file")}
        products, seen = [], set()
        for record in records[: self.num_products]:
            asin = str(record.get("asin"))
            if asin == "nan" or len(asin) > 10 or asin in seen:
                continue
            seen.add(asin)
            products.append(parse_product(record, attributes, human, reviews))
        rng = random.Random(self.seed)
        prices = sale_prices(products, rng)
        build = human_goals if self.goals == "human" else synthetic_goals
        goals = shuffled(build(products, prices, rng), self.seed)
        if not goals:
            raise ValueError(
                f"no {self.goals} goals in {self.products_path} (+ instruction files): "
                f"{len(products)} products, none with a usable instruction"
            )
        return Catalogue(f"official-{self.goals}", tuple(products), prices, goals)
