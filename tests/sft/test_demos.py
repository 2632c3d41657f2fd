"""Demonstrations: the experts win, and their rows are exactly the prompts an RL rollout builds."""

import json

import pytest

from rlx.agent.prompt import parse_action, step_messages
from rlx.agent.rollout import AgentSettings, play_episodes
from rlx.envs.webshop import GeneratedCatalogue, WebShopEnv
from rlx.envs.webshop.demos import GoalDemos, search_text
from rlx.models.tiny import build_tiny
from rlx.rollout.base import Generation
from rlx.rollout.batch import encode_prompt
from rlx.sft.demos import DemoAction, demo_rows, load_demos, play_demos, response_text, save_demos
from rlx.sft.loop import batch_order, tokenize_rows

SHOP = dict(catalogue=GeneratedCatalogue(num_products=300), test_goals=20, dev_goals=0,
            reward_type="success", max_steps=8)
SETTINGS = AgentSettings(role="You shop.", history_length=2, max_steps=8)


@pytest.fixture(scope="module")
def shop():
    return WebShopEnv(**SHOP)


@pytest.fixture(scope="module")
def episodes(shop):
    kept, played = play_demos(shop, list(shop.tasks("train"))[:12], GoalDemos(), max_steps=8)
    assert played == 12
    return kept


def test_search_text_drops_the_option_and_price_clauses():
    assert search_text("I need a red mug with handle with color: red, and size: large, and price "
                       "lower than 30.00 dollars") == "i need a red mug with handle"
    assert search_text("Find shampoo, and price lower than 20.00 dollars") == "find shampoo"


def test_webshop_demonstrations_win_with_the_goal_options(shop, episodes):
    assert len(episodes) >= 10  # the goal product is nearly always in the first result pages
    for episode in episodes:
        goal = shop.shop.goals[episode.task.uid]
        commands = [a.command for a in episode.actions]
        assert episode.won and episode.reward == 10.0
        assert commands[0].startswith("search[") and commands[-1] == "click[buy now]"
        assert f"click[{goal.asin.lower()}]" in commands
        assert [c for c in commands if c[6:-1] in goal.options] == [f"click[{v}]" for v in goal.options]


def test_rows_are_the_step_prompts_with_think_and_action(episodes):
    rows = list(demo_rows(episodes, SETTINGS))
    assert len(rows) == sum(len(e.actions) for e in episodes)
    first, second = rows[0], rows[1]
    ep = episodes[0]
    assert json.loads(first["messages"]) == step_messages(
        role="You shop.", instruction=ep.task.prompt, observation=ep.observations[0], history=[],
        step_index=0, history_length=2)
    assert json.loads(second["messages"]) == step_messages(
        role="You shop.", instruction=ep.task.prompt, observation=ep.observations[1],
        history=[(ep.observations[0].text, ep.actions[0].command)], step_index=1, history_length=2)
    for row in rows:
        parsed = parse_action(row["response"])
        assert parsed.valid and row["response"].startswith("<think>")
    assert (first["episode"], first["step"], second["step"]) == (0, 0, 1)


def test_response_text_follows_the_agent_format():
    action = DemoAction("go to desk 1", "I look there.")
    assert response_text(action, AgentSettings()) == "<think>I look there.</think>\n<action>go to desk 1</action>"
    assert response_text(action, AgentSettings(require_think=False)) == "<action>go to desk 1</action>"
    assert response_text(action, AgentSettings(action_format="raw")) == "go to desk 1"


class InlinePool:
    """EnvPool's interface, one environment per episode, in this process."""

    def __init__(self, make):
        self.make, self.envs = make, []

    def reset(self, pairs):
        self.envs = [self.make() for _ in pairs]
        return [env.reset(task, seed) for env, (task, seed) in zip(self.envs, pairs)]

    def step(self, actions, episode_ids):
        return [self.envs[e].step(a) for e, a in zip(episode_ids, actions)]

    def stats(self):
        return {}


class ReplayEngine:
    """Answers a prompt with the demonstration response whose rendered prompt is identical."""

    def __init__(self, tokenizer, rows):
        self.tokenizer, self.misses = tokenizer, 0
        self.answers = {tuple(encode_prompt(tokenizer, json.loads(r["messages"]))): r["response"] for r in rows}
        self.last_stats = type("Stats", (), {"metrics": staticmethod(lambda: {})})()

    def generate(self, prompts, seed):
        out = []
        for p in prompts:
            text = self.answers.get(tuple(p))
            self.misses += text is None
            ids = self.tokenizer(text or "", add_special_tokens=False)["input_ids"]
            out.append(Generation(list(p), [*ids, self.tokenizer.eos_token_id], finished=True))
        return out


def test_an_rl_rollout_sees_exactly_the_demonstration_prompts(episodes, tmp_path):
    """Replaying the rows through `play_episodes` (the RL rollout): every prompt it builds is a
    demonstration prompt, and the episodes win as the demonstrations did."""
    tokenizer = build_tiny(cache_dir=str(tmp_path)).tokenizer
    rows = list(demo_rows(episodes[:3], SETTINGS))
    engine = ReplayEngine(tokenizer, rows)
    batch = play_episodes(engine, tokenizer, InlinePool(lambda: WebShopEnv(**SHOP)),
                          [e.task for e in episodes[:3]], 1, seed=0, settings=SETTINGS)
    assert engine.misses == 0
    assert batch.episode_won == [True, True, True]
    assert batch.stats["env/format_valid_ratio"] == 1.0
    assert len(batch.completions) == len(rows)


def test_demos_are_a_datasets_dataset_in_the_run_dir(episodes, tmp_path):
    assert load_demos(tmp_path) is None
    save_demos(demo_rows(episodes, SETTINGS), tmp_path)
    data = load_demos(tmp_path)
    assert len(data) == sum(len(e.actions) for e in episodes)
    assert set(data.column_names) == {"task_uid", "task_type", "episode", "step", "messages", "response"}


def test_tokenized_rows_end_with_eos_and_start_with_the_rollout_prompt(episodes, tmp_path):
    tokenizer = build_tiny(cache_dir=str(tmp_path)).tokenizer
    rows = list(demo_rows(episodes[:1], SETTINGS))
    (seq, *_) = tokenize_rows(rows, tokenizer)
    assert seq.prompt_ids == encode_prompt(tokenizer, json.loads(rows[0]["messages"]))
    assert seq.response_ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(seq.response_ids[:-1]) == rows[0]["response"]


def test_batch_order_walks_seeded_epochs():
    steps = [batch_order(10, 4, seed=0, step=s) for s in range(5)]  # 20 rows = 2 epochs
    flat = [i for s in steps for i in s]
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:]) == list(range(10))
    assert flat[:10] != flat[10:]  # each epoch reshuffles
    assert batch_order(10, 4, seed=0, step=3) == steps[3]  # a resumed run continues alike
    assert batch_order(10, 4, seed=1, step=0) != steps[0]


def test_math_reference_answers_use_the_env_prompt_and_are_graded_correct():
    from rlx.envs.math import GeneratedTasks, MathEnv
    from rlx.envs.math.demos import ReferenceAnswers
    from rlx.sft.demos import single_turn_rows

    env = MathEnv(GeneratedTasks(size_per_kind=10), num_eval=10)
    tasks = list(env.tasks("train"))[:6]
    rows, tried = single_turn_rows(env, tasks, ReferenceAnswers())
    assert tried == 6 and len(rows) == 6
    assert json.loads(rows[0]["messages"]) == env.messages(tasks[0])
    assert rows[0]["response"] == f"The answer is \\boxed{{{tasks[0].answer}}}."
    assert all(s.correct for s in env.score(tasks, [r["response"] for r in rows]))
