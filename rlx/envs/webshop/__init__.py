"""WebShop (Yao et al. 2022, arXiv 2207.01206): an online-shopping environment for agents.

Select it with `env=webshop` (the embedded generated catalogue) or `env=webshop_official`
(WebShop's own data files). `WebShopEnv` plays the pages, actions and reward; catalogue
sources build products and goals; `SearchIndex` is the BM25 search engine (SQLite FTS5).
"""

from rlx.envs.webshop.catalogue import Catalogue, Goal, HumanInstruction, Product, Review
from rlx.envs.webshop.env import WebShopEnv, parse_action
from rlx.envs.webshop.generated import GeneratedCatalogue
from rlx.envs.webshop.official import OfficialCatalogue
from rlx.envs.webshop.reward import Purchase, normalize_color, purchase_reward, title_nouns, type_reward
from rlx.envs.webshop.search import SearchIndex

__all__ = [
    "Catalogue",
    "GeneratedCatalogue",
    "Goal",
    "HumanInstruction",
    "OfficialCatalogue",
    "Product",
    "Purchase",
    "Review",
    "SearchIndex",
    "WebShopEnv",
    "normalize_color",
    "parse_action",
    "purchase_reward",
    "title_nouns",
    "type_reward",
]
