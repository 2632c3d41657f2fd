"""WebShop expert demonstrations for SFT (`trainer=sft`, `experiment=sft_webshop`).

`GoalDemos` shops for a goal the way its goal was written: search, open the goal's product
(paging on with "next >" while it is not on the page), click each of the goal's option
values, buy. It reads the goal from the environment's catalogue (`WebShopEnv.shop.goals`),
so it works on rlx's generated catalogue and on WebShop's own data alike; a goal whose
product the search does not return within `max_pages` pages is given up (no demonstration).

query: `instruction` searches the instruction text up to its option / price clauses ("i need
a long clip-in hair extension"), which a policy can copy from its prompt; `product` searches
the goal product's own search query (what WebShop's goal generator started from).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from rlx.envs.base import Task
from rlx.envs.text_env import Observation
from rlx.sft.demos import DemoAction

CLAUSES = re.compile(r"\s+with\s+(?:(?!\bwith\b)[^,:])+:|,\s*and price lower than", re.IGNORECASE)


def search_text(instruction: str) -> str:
    """The instruction up to its first "with <option>:" or ", and price lower than" clause."""
    return CLAUSES.split(instruction, maxsplit=1)[0].strip().lower()


class GoalDemos:
    """Search -> open the goal product -> click its options -> buy (see the module doc).

    query: instruction | product. max_pages: result pages to look through for the product.
    """

    def __init__(self, query: Literal["instruction", "product"] = "instruction", max_pages: int = 5):
        self.query, self.max_pages = query, max_pages

    def policy(self, env, task: Task) -> Callable[[Observation], DemoAction | None]:
        goal = env.shop.goals[task.uid]
        query = search_text(goal.instruction) if self.query == "instruction" else goal.query.lower()
        product = f"click[{goal.asin.lower()}]"
        wanted = [f"click[{v}]" for v in goal.options]
        state = {"searched": False, "pages": 0, "opened": False, "chosen": 0}

        def act(observation: Observation) -> DemoAction | None:
            admissible = set(observation.admissible or ())
            if not state["searched"]:
                state["searched"] = True
                return DemoAction(f"search[{query}]", "I search for the product the instruction describes.")
            if not state["opened"]:
                if product in admissible:
                    state["opened"] = True
                    return DemoAction(product, "This product matches the instruction, so I open it.")
                state["pages"] += 1
                if "click[next >]" in admissible and state["pages"] < self.max_pages:
                    return DemoAction("click[next >]", "The product I need is not on this page, so I look at the next one.")
                return None
            while state["chosen"] < len(wanted):
                option = wanted[state["chosen"]]
                state["chosen"] += 1
                if option in admissible:
                    value = option[len("click["):-1]
                    return DemoAction(option, f"The instruction asks for {value}, so I select it.")
            if "click[buy now]" in admissible:
                return DemoAction("click[buy now]", "The product and its options match the instruction, so I buy it.")
            return None

        return act
