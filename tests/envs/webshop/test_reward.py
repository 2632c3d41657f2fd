import dataclasses
import sys

import pytest

from rlx.envs.webshop import normalize_color, purchase_reward, title_nouns, type_reward
from rlx.envs.webshop.reward import attribute_matches, option_matches
from tests.envs.webshop.tiny_shop import SHOP_GOAL, SHOP_PRODUCTS, product

TARGET, SALON_SIZE, EARBUDS = SHOP_PRODUCTS
BOTH = {"scent": "lavender", "size": "16 fl oz"}


@pytest.mark.parametrize(
    ("purchased", "price", "selected", "reward"),
    [
        (TARGET, 20.0, BOTH, 1.0),  # (2 attributes + 2 options + price) / 5
        (TARGET, 20.0, {}, 0.6),  # no options clicked: (2 + 0 + 1) / 5
        (TARGET, 20.0, {"scent": "lavender", "size": "8 fl oz"}, 0.8),  # "8 fl oz" vs "16 fl oz": ratio 83
        (TARGET, 20.0, {"scent": "rose"}, 0.6),
        (SALON_SIZE, 45.0, BOTH, 0.8),  # over the $30 bound
        (EARBUDS, 25.0, {"color": "black"}, 0.0),  # no title noun in common: r_type 0
    ],
    ids=["success", "no-options", "one-option", "wrong-option", "over-price", "wrong-type"],
)
def test_purchase_reward_literal_values(purchased, price, selected, reward):
    assert purchase_reward(purchased, price, selected, SHOP_GOAL).reward == pytest.approx(reward, abs=1e-12)


def test_purchase_parts():
    parts = purchase_reward(TARGET, 20.0, {"scent": "lavender"}, SHOP_GOAL)
    assert dataclasses.astuple(parts) == (0.8, 1.0, 2, 1, True, True, True, 1.0)
    assert purchase_reward(TARGET, 30.0, BOTH, SHOP_GOAL).reward == 1.0  # the bound is inclusive


def test_success_is_exactly_one():
    assert purchase_reward(TARGET, 20.0, BOTH, SHOP_GOAL).reward == 1.0


def test_type_reward_levels():
    # a title-noun overlap of 0 gives 0, even with the same query and category path
    other_title = dataclasses.replace(TARGET, title="Acme Hair Wash")
    assert type_reward(other_title, SHOP_GOAL).r_type == 0.0
    # goal nouns {lumora, sulfate, argan, oil, shampoo}: 1 of 5 shared = 0.2, not > 0.2, no query/category
    one_noun = product("B9", "Acme Shampoo", 5.0, query="hair care", path="Health › Soap")
    kind = type_reward(one_noun, SHOP_GOAL)
    assert (kind.r_type, kind.title_score, kind.query_match, kind.category_match) == (0.5, 0.2, False, False)
    # the same product under the goal's category path: two shared pieces -> 1.0
    same_path = dataclasses.replace(one_noun, product_category="Beauty & Personal Care › Hair Care")
    assert type_reward(same_path, SHOP_GOAL).r_type == 1.0
    # 2 of 5 nouns shared (0.4 > 0.2) -> 1.0 even with another query and category
    two_nouns = dataclasses.replace(one_noun, title="Acme Argan Oil Soap")
    assert type_reward(two_nouns, SHOP_GOAL).r_type == 1.0
    # below 0.1 -> 0.1: one shared noun out of 11
    long_goal = dataclasses.replace(
        SHOP_GOAL, name="Lumora Sulfate Argan Oil Shampoo Conditioner Salon Bottle Pump Travel Kit"
    )
    assert type_reward(one_noun, long_goal).title_score == pytest.approx(1 / 11)
    assert type_reward(one_noun, long_goal).r_type == 0.1
    # a goal name without nouns scores 0.2
    assert type_reward(one_noun, dataclasses.replace(SHOP_GOAL, name="the best and new")).title_score == 0.2


def test_attribute_matching_fuzzy_or_text():
    assert attribute_matches(TARGET, ["argan oils"]) == 1  # token_set_ratio 95 > 85
    assert attribute_matches(TARGET, ["made in usa"]) == 1  # substring of a bullet point
    assert attribute_matches(TARGET, ["gentle shampoo"]) == 1  # substring of the description
    assert attribute_matches(TARGET, ["sulfate free", "paraben free", "keratin"]) == 1
    assert attribute_matches(EARBUDS, ["argan oil"]) == 0


def test_option_matching_normalises_colours():
    assert option_matches(["dark blue"], ["navy blue"]) == 1  # both -> "blue"
    assert option_matches(["rose red"], ["red"]) == 1
    assert option_matches(["16 fl oz (pack of 2)"], ["16 fl oz"]) == 1  # token_set_ratio 100
    assert option_matches(["8 fl oz"], ["16 fl oz"]) == 0
    assert option_matches([], ["red", "large"]) == 0
    assert option_matches(["red", "large"], ["red", "large"]) == 2


def test_normalize_color_first_colour_word():
    assert [normalize_color(v) for v in ("light blue", "rose gold", "heather grey", "set-b")] == [
        "blue",
        "gold",
        "grey",
        "set-b",
    ]


def test_title_nouns_heuristic():
    assert title_nouns("Lumora Sulfate Free Argan Oil Shampoo") == {
        "lumora",
        "sulfate",
        "argan",
        "oil",
        "shampoo",
    }
    assert title_nouns("Soft Black Cotton T-Shirt for Women") == {"cotton", "shirt", "women"}
    assert title_nouns("Portable Waterproof Bluetooth Speaker, 2 Pack") == {"bluetooth", "speaker", "pack"}


def test_missing_thefuzz_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "thefuzz", None)
    with pytest.raises(ImportError, match=r"pip install 'rlx\[webshop\]'"):
        purchase_reward(TARGET, 20.0, BOTH, SHOP_GOAL)
