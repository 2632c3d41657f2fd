"""ALFWorld demonstrations replay a winning command list in the real engine."""

from rlx.agent.rollout import AgentSettings
from rlx.envs.alfworld.demos import ExpertDemos, reason_for
from rlx.sft.demos import demo_rows, play_demos
from tests.sft.conftest import requires_alfworld


def test_reasons_are_one_sentence_per_verb():
    assert reason_for("go to desk 1") != reason_for("take apple 1 from desk 1")
    assert reason_for("frobnicate") == "This brings me closer to finishing the task."


@requires_alfworld
def test_walkthrough_demonstrations_win_every_generated_game(alfworld_cache):
    from rlx.envs.alfworld import AlfWorldEnv, GeneratedGames

    # the settings of tests/sft/conftest.py's ALFWORLD_GAMES with sft_alfworld's 30-step limit,
    # so the learning test finds these games made
    games = GeneratedGames(num_train=12, num_eval=2, train_layouts=6, eval_layouts=2,
                           max_expert_steps=30, cache_dir=str(alfworld_cache), workers=2)
    env = AlfWorldEnv(games, max_steps=30)
    tasks = games.tasks("train")[:6]
    episodes, played = play_demos(env, tasks, ExpertDemos(), max_steps=30)
    assert played == 6 and len(episodes) == 6  # every generated game is winnable by its walkthrough
    assert {e.task.task_type for e in episodes} == {t.task_type for t in tasks}
    rows = list(demo_rows(episodes, AgentSettings()))
    assert len(rows) == sum(t.difficulty for t in tasks)  # one row per walkthrough command
    assert all(r["response"].startswith("<think>") and "<action>" in r["response"] for r in rows)
