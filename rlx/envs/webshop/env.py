"""`WebShopEnv`: WebShop (Yao et al. 2022, arXiv 2207.01206) as a multi-turn `TextEnv`.

The agent reads an instruction ("i need a long clip-in hair extension ..., and price lower
than 40.00 dollars"), searches a product catalogue, pages through results, opens products,
selects options, reads sub-pages, and buys; the reward on "Buy Now" scores the purchase
against the goal (`rlx.envs.webshop.reward`). Actions:

    search[<query>]   any page: results page 1 for the query
    click[<text>]     a clickable of the current page (lowercased: a button, an ASIN, an option)

Anything else is a no-op: the page stays, reward 0, `action_valid` False. An episode ends
on "Buy Now" (terminated) or after `max_steps` steps (truncated).

The catalogue, goals and search index are built once per process and shared by all
environments with the same catalogue; constructing or unpickling an environment is free.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Annotated, Any, Literal

from rlx.config.types import Range
from rlx.envs.base import Task
from rlx.envs.text_env import Observation, Step
from rlx.envs.webshop import pages
from rlx.envs.webshop.catalogue import Catalogue, CatalogueSource, Goal, Product, search_document
from rlx.envs.webshop.pages import Click, View
from rlx.envs.webshop.reward import purchase_reward
from rlx.envs.webshop.search import SearchIndex

ACTION = re.compile(r"^\s*(search|click)\s*\[(.*)\]", re.IGNORECASE | re.DOTALL)


def parse_action(action: str) -> tuple[str, str] | None:
    """("search" | "click", lowercased stripped argument), or None when `action` is neither
    `search[...]` nor `click[...]` or the argument is empty. The argument runs from the first
    "[" to the last "]"; text after the last "]" is ignored."""
    match = ACTION.match(action)
    if match is None:
        return None
    argument = match.group(2).strip().lower()
    return (match.group(1).lower(), argument) if argument else None


@dataclass(frozen=True)
class PageState:
    """Where the agent is: the page, and the session it belongs to (last query, results page,
    open product, selected options as sorted (name, value) pairs, open sub-page)."""

    kind: pages.PageKind = "search"
    query: str = ""
    page: int = 1
    asin: str = ""
    options: tuple[tuple[str, str], ...] = ()
    sub: str = ""

    def key(self) -> str:
        """The page identity (GiGPO's anchor state): equal keys show the same page and
        lead to the same pages."""
        options = ",".join(f"{n}={v}" for n, v in self.options)
        if self.kind == "search":
            return "search"
        if self.kind == "results":
            return f"results|{self.query}|{self.page}"
        if self.kind == "done":
            return f"done|{self.asin}|{options}"
        return f"{self.kind}{':' + self.sub if self.sub else ''}|{self.query}|{self.page}|{self.asin}|{options}"


@dataclass
class Shop:
    """Everything built once per process for one catalogue."""

    catalogue: Catalogue
    index: SearchIndex
    goals: dict[str, Goal]  # task uid -> goal
    tasks: tuple[Task, ...]


_SHOPS: dict[tuple[str, str | None], Shop] = {}


def open_shop(source: CatalogueSource, index_dir: str | None) -> Shop:
    """The shop for `source`, built on first use in this process and cached."""
    cache_key = (source.key(), index_dir)
    if cache_key not in _SHOPS:
        catalogue = source()
        index = SearchIndex([search_document(p) for p in catalogue.products], index_dir)
        tasks, goals = [], {}
        for i, goal in enumerate(catalogue.goals):
            uid = f"webshop-{catalogue.name}-{i:05d}"
            goals[uid] = goal
            difficulty = float(len(goal.attributes) + len(goal.options))
            tasks.append(Task(uid, goal.instruction, goal.asin, goal.category, difficulty))
        _SHOPS[cache_key] = Shop(catalogue, index, goals, tuple(tasks))
    return _SHOPS[cache_key]


class WebShopEnv:
    """WebShop as a `TextEnv` (structurally; see `rlx.envs.text_env`).

    catalogue: the catalogue source (`GeneratedCatalogue`, the embedded default, or
        `OfficialCatalogue` for WebShop's own data files), selected by a nested `_target_`.
    test_goals, dev_goals: the goals (in the catalogue's shuffled order) are split into
        test = [0, test_goals), dev = the next dev_goals, train = the rest. WebShop's
        reference split is 500 / 1000 (test 0-499, "eval" 500-1499); verl-agent trains on
        everything after the first 500 (dev_goals=0). Lower both for small catalogues.
    eval_on: which held-out split `tasks("eval")` returns.
    max_steps: the step limit (15 in ReAct and verl-agent); reaching it truncates.
    reward_type: "score": the step reward on buying is WebShop's score in [0, 1];
        "success": `success_reward` if the score is 1 else 0 (verl-agent's GiGPO setting,
        where success_reward = 10). `Step.info["score"]` always holds the score.
    success_reward: see `reward_type`.
    search_results: how many hits a search returns (50 in WebShop).
    page_size: results per page (10 in WebShop).
    show_attributes: add WebShop's optional "Attributes" sub-page to item pages.
    index_dir: keep the search index in a file under this directory (shared by processes
        and runs); None builds it in memory in each process.

    `reset`'s seed does not change anything: a goal fully determines the episode (the
    catalogue's sale prices are drawn once, when it is built), so group copies start alike.
    """

    def __init__(
        self,
        catalogue: CatalogueSource,
        test_goals: Annotated[int, Range(ge=0)] = 500,
        dev_goals: Annotated[int, Range(ge=0)] = 1000,
        eval_on: Literal["test", "dev"] = "test",
        max_steps: Annotated[int, Range(ge=1)] = 15,
        reward_type: Literal["score", "success"] = "score",
        success_reward: float = 10.0,
        search_results: Annotated[int, Range(ge=1)] = 50,
        page_size: Annotated[int, Range(ge=1)] = 10,
        show_attributes: bool = False,
        index_dir: str | None = None,
    ):
        if min(test_goals, dev_goals) < 0 or min(max_steps, search_results, page_size) < 1:
            raise ValueError("test_goals/dev_goals must be >= 0; max_steps, search_results, page_size >= 1")
        self.source = catalogue
        self.test_goals, self.dev_goals, self.eval_on = test_goals, dev_goals, eval_on
        self.max_steps, self.reward_type, self.success_reward = max_steps, reward_type, success_reward
        self.search_results, self.page_size = search_results, page_size
        self.show_attributes, self.index_dir = show_attributes, index_dir
        self._shop: Shop | None = None
        self._goal: Goal | None = None
        self._state = PageState()
        self._hits: tuple[str, list[str]] = ("", [])  # (query, ASINs) of the last search
        self._page: View | None = None  # the page on screen
        self._steps = 0
        self._over = True

    # --- TextEnv --------------------------------------------------------------------------
    def tasks(self, split: Literal["train", "eval"]) -> Sequence[Task]:
        tasks = self.shop.tasks
        held_out = self.test_goals + self.dev_goals
        if split == "train":
            chosen, name = tasks[held_out:], "train"
        elif self.eval_on == "test":
            chosen, name = tasks[: self.test_goals], "test"
        else:
            chosen, name = tasks[self.test_goals : held_out], "dev"
        if not chosen:
            raise ValueError(
                f"the WebShop {name} split is empty: the catalogue has {len(tasks)} goals and "
                f"test_goals={self.test_goals}, dev_goals={self.dev_goals}; lower them for a small catalogue"
            )
        return chosen

    def reset(self, task: Task, seed: int = 0) -> Observation:
        goal = self.shop.goals.get(task.uid)
        if goal is None:
            raise ValueError(f"task {task.uid!r} is not a goal of this WebShop catalogue")
        self._goal, self._state, self._hits = goal, PageState(), ("", [])
        self._steps, self._over = 0, False
        return self._observe(self._view())

    def step(self, action: str) -> Step:
        if self._over:
            raise RuntimeError("the WebShop episode is over (or was never started): call reset(task, seed)")
        self._steps += 1
        view = self._page
        assert view is not None
        parsed = parse_action(action)
        info: dict[str, Any] = {"score": 0.0}
        reward, terminated, valid = 0.0, False, True
        if parsed is not None and parsed[0] == "search":
            self._state = PageState("results", query=parsed[1], page=1)
        elif parsed is not None and parsed[1] in view.clickables:
            click = view.clickables[parsed[1]]
            if click == pages.Click("button", pages.BUY_NOW):
                reward, terminated, info = self._buy()
            else:
                self._state = self._after_click(click)
        else:
            valid = False
        won = terminated and info["score"] == 1.0
        truncated = not terminated and self._steps >= self.max_steps
        self._over = terminated or truncated
        info["page"] = self._state.kind
        if terminated:
            view = pages.done_page(info["score"])
        elif valid:
            view = self._view()
        return Step(self._observe(view), reward, terminated, truncated, valid, won, info)

    def close(self) -> None:
        """Nothing to release per environment (the per-process shop is shared)."""

    # --- internals ------------------------------------------------------------------------
    @property
    def shop(self) -> Shop:
        if self._shop is None:
            self._shop = open_shop(self.source, self.index_dir)
        return self._shop

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_shop": None}  # the shop is rebuilt (or found cached) on use

    def _observe(self, view: View) -> Observation:
        self._page = view
        return Observation(view.text, view.admissible(), self._state.key())

    def _product(self) -> Product:
        return self.shop.catalogue.by_asin[self._state.asin]

    def _results(self) -> list[str]:
        query = self._state.query
        if self._hits[0] != query:
            products = self.shop.catalogue.products
            found = self.shop.index.search(query, self.search_results)
            self._hits = (query, [products[i].asin for i in found])
        return self._hits[1]

    def _view(self) -> View:
        assert self._goal is not None
        state, instruction = self._state, self._goal.instruction
        if state.kind == "search":
            return pages.search_page(instruction)
        if state.kind == "results":
            hits = self._results()
            start = (state.page - 1) * self.page_size
            on_page = [self.shop.catalogue.by_asin[a] for a in hits[start : start + self.page_size]]
            return pages.results_page(instruction, state.page, len(hits), on_page, self.page_size)
        if state.kind == "item":
            return pages.item_page(instruction, self._product(), self.show_attributes)
        if state.kind == "sub":
            return pages.sub_page(instruction, self._product(), state.sub)
        raise RuntimeError(f"no page to render in state {state}")

    def _after_click(self, click: Click) -> PageState:
        state = self._state
        if click.kind == "product":
            return replace(state, kind="item", asin=click.target, options=(), sub="")
        if click.kind == "option":
            chosen = dict(state.options) | {click.target: click.value}
            return replace(state, kind="item", options=tuple(sorted(chosen.items())))
        label = click.target
        if label == pages.BACK_TO_SEARCH:
            return PageState()
        if label == pages.NEXT_PAGE:
            return replace(state, page=state.page + 1)
        if label == pages.PREV_PAGE and state.kind == "results":
            return replace(state, page=state.page - 1)
        if label == pages.PREV_PAGE and state.kind == "sub":
            return replace(state, kind="item", sub="")
        if label == pages.PREV_PAGE:  # item page -> its results page
            return replace(state, kind="results", asin="", options=())
        return replace(state, kind="sub", sub=label)  # Description / Features / Reviews / Attributes

    def _buy(self) -> tuple[float, bool, dict[str, Any]]:
        assert self._goal is not None
        product = self._product()
        price = self.shop.catalogue.prices[product.asin]
        purchase = purchase_reward(product, price, dict(self._state.options), self._goal)
        self._state = replace(self._state, kind="done", sub="")
        info = {
            "score": purchase.reward,
            "asin": product.asin,
            "options": dict(self._state.options),
            "price": price,
            "goal_asin": self._goal.asin,
            **{f"reward/{k}": v for k, v in asdict(purchase).items() if k != "reward"},
        }
        won = purchase.reward == 1.0
        reward = purchase.reward if self.reward_type == "score" else (self.success_reward if won else 0.0)
        return reward, True, info
