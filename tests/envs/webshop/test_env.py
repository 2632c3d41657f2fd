import pickle

import pytest

from rlx.envs.base import Task
from rlx.envs.text_env import Observation, Step, TextEnv
from rlx.envs.webshop import GeneratedCatalogue, WebShopEnv, parse_action
from tests.envs.webshop.tiny_shop import BUY_TARGET, SHOP_GOAL, TinyShop

INSTRUCTION = SHOP_GOAL.instruction


@pytest.fixture
def env():
    return WebShopEnv(TinyShop(), test_goals=0, dev_goals=0)


def play(env, actions):
    env.reset(env.tasks("train")[0], seed=0)
    return [env.step(a) for a in actions]


def test_is_a_text_env_and_tasks_come_from_goals(env):
    assert isinstance(env, TextEnv)
    (task,) = env.tasks("train")
    assert task == Task("webshop-tiny-00000", INSTRUCTION, "B000000001", "beauty", 4.0)


def test_scripted_success(env):
    obs = env.reset(env.tasks("train")[0], seed=0)
    assert obs == Observation(
        f"WebShop [SEP] Instruction: [SEP] {INSTRUCTION} [SEP] Search", ("search[<your query>]",), "search"
    )
    steps = [env.step(a) for a in BUY_TARGET]
    assert [s.reward for s in steps] == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert [s.terminated for s in steps] == [False] * 4 + [True]
    last = steps[-1]
    assert (last.won, last.truncated, last.action_valid, last.info["score"]) == (True, False, True, 1.0)
    assert last.info["options"] == {"scent": "lavender", "size": "16 fl oz"} and last.info["asin"] == "B000000001"
    assert (
        last.observation.text == "Thank you for shopping with us! [SEP] Your score (min 0.0, max 1.0) [SEP] 1.0"
    )
    assert last.observation.admissible == ()
    with pytest.raises(RuntimeError, match="reset"):
        env.step("click[buy now]")


@pytest.mark.parametrize(
    ("actions", "score"),
    [
        (["search[shampoo]", "click[b000000001]", "click[buy now]"], 0.6),  # no options clicked
        (["search[shampoo]", "click[b000000001]", "click[lavender]", "click[buy now]"], 0.8),
        (["search[shampoo]", "click[b000000002]", "click[lavender]", "click[16 fl oz]", "click[buy now]"], 0.8),
        (["search[earbuds]", "click[b000000003]", "click[black]", "click[buy now]"], 0.0),  # wrong product type
    ],
    ids=["no-options", "one-option", "over-price", "wrong-type"],
)
def test_scripted_failures_give_partial_reward(env, actions, score):
    last = play(env, actions)[-1]
    assert last.terminated and not last.won
    assert last.reward == pytest.approx(score, abs=1e-12) and last.info["score"] == last.reward


def test_success_reward_mode():
    env = WebShopEnv(TinyShop(), test_goals=0, dev_goals=0, reward_type="success", success_reward=10.0)
    assert play(env, BUY_TARGET)[-1].reward == 10.0
    last = play(env, ["search[shampoo]", "click[b000000001]", "click[buy now]"])[-1]
    assert (last.reward, last.info["score"]) == (0.0, 0.6)


def test_results_and_item_pages_render_as_webshop_text(env):
    steps = play(env, ["search[shampoo]", "click[b000000001]", "click[rose]"])
    assert steps[0].observation.text == (
        f"Instruction: [SEP] {INSTRUCTION} [SEP] Back to Search [SEP] Page 1 (Total results: 2) [SEP] "
        "B000000001 [SEP] Lumora Sulfate Free Argan Oil Shampoo [SEP] $20.0 [SEP] "
        "B000000002 [SEP] Lumora Sulfate Free Argan Oil Shampoo Salon Size [SEP] $45.0"
    )
    assert steps[0].observation.admissible == ("click[back to search]", "click[b000000001]", "click[b000000002]")
    item = steps[1].observation
    assert item.text == (
        f"Instruction: [SEP] {INSTRUCTION} [SEP] Back to Search [SEP] < Prev "
        "[SEP] scent [SEP] lavender [SEP] rose [SEP] size [SEP] 8 fl oz [SEP] 16 fl oz "
        "[SEP] Lumora Sulfate Free Argan Oil Shampoo [SEP] Price: $20.0 [SEP] Rating: 4.0 "
        "[SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now"
    )
    assert item.admissible == (
        "click[back to search]",
        "click[< prev]",
        "click[description]",
        "click[features]",
        "click[reviews]",
        "click[buy now]",
        "click[lavender]",
        "click[rose]",
        "click[8 fl oz]",
        "click[16 fl oz]",
    )
    assert item.state_key == "item|shampoo|1|B000000001|"
    assert steps[2].observation.text == item.text  # the selection does not show in the text...
    assert steps[2].observation.state_key == "item|shampoo|1|B000000001|scent=rose"  # ...but is state


def test_sub_pages_and_navigation(env):
    steps = play(
        env,
        [
            "search[shampoo]",
            "click[b000000001]",
            "click[rose]",
            "click[description]",
            "click[< prev]",
            "click[features]",
            "click[< prev]",
            "click[reviews]",
            "click[< prev]",
            "click[< prev]",
            "click[back to search]",
        ],
    )
    header = f"Instruction: [SEP] {INSTRUCTION} [SEP] Back to Search [SEP] < Prev"
    assert steps[3].observation.text == f"{header} [SEP] A gentle shampoo."
    assert steps[5].observation.text == f"{header} [SEP] Sulfate free formula. [SEP] Made in USA."
    assert (
        steps[7].observation.text
        == f'{header} [SEP] "Love it" [SEP] 5 [SEP] Smells great. [SEP] "Okay" [SEP] 3 [SEP] Fine.'
    )
    assert steps[3].observation.admissible == ("click[back to search]", "click[< prev]")
    assert steps[3].observation.state_key == "sub:Description|shampoo|1|B000000001|scent=rose"
    assert steps[4].observation.state_key == "item|shampoo|1|B000000001|scent=rose"  # options kept
    assert steps[9].observation.state_key == "results|shampoo|1"  # item -> its results page
    assert steps[10].observation.state_key == "search"
    assert all(s.action_valid and s.reward == 0.0 and not s.terminated for s in steps)


def test_invalid_actions_are_no_ops(env):
    env.reset(env.tasks("train")[0], seed=0)
    start = env.step("search[shampoo]").observation
    for action in (
        "buy it now",
        "click[nothing here]",
        "click[buy now]",
        "click[< prev]",
        "search[]",
        "click[]",
        "clik[b000000001]",
        "search shampoo",
        "",
    ):
        step = env.step(action)
        assert (step.action_valid, step.reward, step.terminated, step.observation) == (False, 0.0, False, start)
    search_page = WebShopEnv(TinyShop(), test_goals=0, dev_goals=0)
    search_page.reset(search_page.tasks("train")[0], seed=0)
    assert not search_page.step("click[search]").action_valid  # the search button is not a click target


def test_search_works_from_any_page_and_clicks_are_case_insensitive(env):
    steps = play(env, ["search[shampoo]", "Click[B000000001]", "search[earbuds]"])
    assert steps[1].observation.state_key == "item|shampoo|1|B000000001|"
    assert steps[2].observation.state_key == "results|earbuds|1"


def test_step_limit_truncates(env):
    env = WebShopEnv(TinyShop(), test_goals=0, dev_goals=0, max_steps=3)
    steps = play(env, ["click[x]", "search[shampoo]", "click[b000000001]"])
    assert [s.truncated for s in steps] == [False, False, True]
    assert not any(s.terminated for s in steps)
    with pytest.raises(RuntimeError):
        env.step("click[buy now]")


def test_paging_through_fifty_results():
    env = WebShopEnv(GeneratedCatalogue(num_products=600, seed=1), test_goals=10, dev_goals=10)
    env.reset(env.tasks("train")[0], seed=0)
    pages = [env.step("search[black]")]
    for _ in range(4):
        pages.append(env.step("click[next >]"))
    texts = [p.observation.text for p in pages]
    assert all("(Total results: 50)" in t for t in texts)
    assert [f"Page {i + 1} " in t for i, t in enumerate(texts)] == [True] * 5
    assert ["< Prev" in t for t in texts] == [False, True, True, True, True]
    assert ["Next >" in t for t in texts] == [True, True, True, True, False]
    asins = [[a for a in p.observation.admissible if a.startswith("click[b0")] for p in pages]
    assert [len(a) for a in asins] == [10] * 5 and len({a for page in asins for a in page}) == 50
    assert not env.step("click[next >]").action_valid  # no page 6
    back = env.step("click[< prev]")
    assert back.observation.state_key == "results|black|4" and back.observation.text == texts[3]


def test_same_task_same_episode_and_pickling(env):
    first = play(env, BUY_TARGET)
    clone = pickle.loads(pickle.dumps(env))
    assert clone._shop is None  # the shop is rebuilt (or found) where the env lands
    assert play(clone, BUY_TARGET) == first
    for step in first:
        assert pickle.loads(pickle.dumps(step)) == step and isinstance(step, Step)


def test_splits():
    env = WebShopEnv(GeneratedCatalogue(num_products=300, seed=3), test_goals=50, dev_goals=100)
    total = len(env.shop.tasks)
    train, test = env.tasks("train"), env.tasks("eval")
    assert (len(test), len(train)) == (50, total - 150)
    assert [t.uid for t in test] == [f"webshop-generated-synthetic-{i:05d}" for i in range(50)]
    assert train[0].uid == "webshop-generated-synthetic-00150"
    dev = WebShopEnv(GeneratedCatalogue(num_products=300, seed=3), test_goals=50, dev_goals=100, eval_on="dev")
    assert [t.uid for t in dev.tasks("eval")] == [t.uid for t in env.shop.tasks[50:150]]
    with pytest.raises(ValueError, match="lower them"):
        WebShopEnv(TinyShop()).tasks("train")
    with pytest.raises(ValueError, match="not a goal"):
        env.reset(Task("webshop-other-00001", "x", "y"), seed=0)


@pytest.mark.parametrize(
    ("action", "parsed"),
    [
        ("search[Red Shoes]", ("search", "red shoes")),
        ("  click[ Buy Now ] thanks", ("click", "buy now")),
        ("click[]", None),
        ("buy now", None),
        ("press[x]", None),
        ("search[a [b]]", ("search", "a [b]")),
    ],
)
def test_parse_action(action, parsed):
    assert parse_action(action) == parsed


def test_attributes_sub_page_when_enabled():
    env = WebShopEnv(TinyShop(), test_goals=0, dev_goals=0, show_attributes=True)
    item, attributes = play(env, ["search[earbuds]", "click[b000000003]", "click[attributes]"])[1:]
    assert "[SEP] Reviews [SEP] Attributes [SEP] Buy Now" in item.observation.text
    assert "click[attributes]" in item.observation.admissible
    assert attributes.observation.text.endswith("< Prev [SEP] wireless bluetooth")
    reviews = play(env, ["search[earbuds]", "click[b000000003]", "click[reviews]"])[-1]
    assert reviews.observation.text.endswith("Back to Search [SEP] < Prev")  # no reviews
    assert not play(
        WebShopEnv(TinyShop(), test_goals=0, dev_goals=0),
        ["search[earbuds]", "click[b000000003]", "click[attributes]"],
    )[-1].action_valid
