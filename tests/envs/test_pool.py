import dataclasses
import functools
import gc
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import hydra
import psutil
import pytest
from omegaconf import OmegaConf

from rlx.envs.base import Task
from rlx.envs.cpus import available_cpus
from rlx.envs.pool import FAILED_RESET, EnvPool, EnvPoolError, TooManyWorkersError
from rlx.envs.text_env import Observation, Step, TextEnv
from tests.envs.toy_env import ToyWalkEnv, walk_policy

REPO = Path(__file__).resolve().parents[2]
WORKERS = min(2, available_cpus())
TIMEOUTS = dict(step_timeout_s=10.0, reset_timeout_s=10.0)


def make_pool(max_steps=8, **kwargs) -> EnvPool:
    env_kwargs = kwargs.pop("env_kwargs", {})
    options = {**TIMEOUTS, **kwargs}
    return EnvPool(functools.partial(ToyWalkEnv, **env_kwargs), WORKERS, max_steps=max_steps, **options)


def group_batch(num_tasks=3, group_size=4, seed=11) -> list[tuple[Task, int]]:
    tasks = ToyWalkEnv().tasks("train")[:num_tasks]
    return [(task, seed + k) for k, task in enumerate(tasks) for _ in range(group_size)]


def play_sequential(batch, max_steps, skip=()) -> list[list]:
    """Reference: each episode played to its end in this process, one after another."""
    env = ToyWalkEnv()
    trajectories = []
    for i, (task, seed) in enumerate(batch):
        if i in skip:
            trajectories.append(None)
            continue
        obs = env.reset(task, seed)
        trajectory = [obs]
        for turn in range(max_steps):
            step = env.step(walk_policy(obs, i, turn))
            if turn + 1 == max_steps and not step.terminated:
                step = dataclasses.replace(step, truncated=True)
            trajectory.append(step)
            obs = step.observation
            if step.terminated or step.truncated:
                break
        trajectories.append(trajectory)
    return trajectories


def play_pool(pool: EnvPool, batch) -> list[list]:
    return play_on(pool, pool.reset(batch))


def play_on(pool: EnvPool, observations: list[Observation]) -> list[list]:
    """Play the pool's episodes from `observations` (just reset) to their ends with `walk_policy`."""
    observations = list(observations)
    trajectories = [[obs] for obs in observations]
    while pool.active:
        ids = pool.active
        turns = pool.episode_steps
        actions = [walk_policy(observations[i], i, turns[i]) for i in ids]
        for i, step in zip(ids, pool.step(actions)):
            trajectories[i].append(step)
            observations[i] = step.observation
    return trajectories


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(pids, timeout_s=10.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(running(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if running(p)]


def test_toy_env_is_a_text_env_and_crosses_processes_by_pickle():
    env = ToyWalkEnv()
    assert isinstance(env, TextEnv)
    step = env.step("left") if env.reset(env.tasks("train")[0], 3) else None
    for obj in (env.tasks("train")[0], env.reset(env.tasks("train")[0], 3), step):
        assert pickle.loads(pickle.dumps(obj)) == obj


def test_parallel_play_equals_sequential_play():
    batch = group_batch(num_tasks=3, group_size=4)
    with make_pool(max_steps=8) as pool:
        parallel = play_pool(pool, batch)
        assert pool.errors == {} and pool.active == [] and all(pool.done)
        stats = pool.stats()
    sequential = play_sequential(batch, max_steps=8)
    assert parallel == sequential
    assert len({len(t) for t in sequential}) > 1  # the episodes really differ in length
    assert stats["env/steps"] == sum(len(t) - 1 for t in sequential)
    assert stats["env/episodes_started"] == 12
    assert stats["env/worker_crashes"] == stats["env/worker_restarts"] == 0
    assert stats["perf/env_steps_per_s"] > 0 and stats["perf/time_env_step_s"] > 0
    assert stats["perf/time_env_reset_s"] > 0


def test_group_copies_start_and_evolve_identically():
    batch = group_batch(num_tasks=3, group_size=4)
    with make_pool() as pool:
        first = pool.reset(batch)
        for g in range(3):
            assert len(set(first[4 * g: 4 * g + 4])) == 1  # copies on both workers, same state
        steps = pool.step(["left"] * 12)  # same action: the seeded wind must agree too
        for g in range(3):
            assert len({s.observation for s in steps[4 * g: 4 * g + 4]}) == 1
        again = pool.reset(batch)
        assert again == first  # reused env instances reset to the same state
        other = pool.reset([(task, seed + 100) for task, seed in batch])
        assert other != first


def test_max_steps_truncates_the_last_allowed_step():
    env = ToyWalkEnv()
    batch = [(t, 5) for t in env.tasks("train") if env.reset(t, 5).text.split()[4] != t.answer + "."][:3]
    assert len(batch) == 3
    with make_pool(max_steps=3) as pool:
        pool.reset(batch)
        for turn in range(3):
            steps = pool.step(["stay"] * 3)
            assert [s.truncated for s in steps] == [turn == 2] * 3
            assert not any(s.terminated for s in steps)
        assert pool.active == [] and pool.episode_steps == [3, 3, 3]
        with pytest.raises(ValueError, match="is done"):
            pool.step(["stay"], episode_ids=[0])


def test_step_checks_its_arguments():
    with make_pool() as pool:
        pool.reset(group_batch(num_tasks=1, group_size=2))
        with pytest.raises(ValueError, match="1 actions for 2 episodes"):
            pool.step(["left"])
        with pytest.raises(ValueError, match="does not exist"):
            pool.step(["left"], episode_ids=[5])


def test_injected_crash_ends_the_worker_episodes_and_the_pool_goes_on():
    batch = group_batch(num_tasks=3, group_size=2)  # 6 episodes: worker 0 hosts 0, 2, 4
    with make_pool() as pool:
        pids = pool.worker_pids
        pool.reset(batch)
        steps = pool.step(["crash" if i == 2 else "stay" for i in range(6)])
        assert [s.truncated for s in steps] == [True, False, True, False, True, False]
        assert "crashed (exit code 7)" in steps[2].info["error"]
        assert all("environment lost" in steps[i].info["error"] for i in (0, 4))
        assert all("error" not in steps[i].info for i in (1, 3, 5))
        assert sorted(pool.errors) == [0, 2, 4] and pool.active == [1, 3, 5]
        assert pool.worker_pids[1] == pids[1] and pool.worker_pids[0] != pids[0]
        assert wait_gone([pids[0]]) == []
        stats = pool.stats()
        assert (stats["env/worker_crashes"], stats["env/worker_restarts"], stats["env/episodes_errored"]) == (1, 1, 3)
        assert play_pool(pool, batch) == play_sequential(batch, max_steps=8)  # replaced worker plays on


def test_injected_hang_times_out_and_the_pool_goes_on():
    batch = group_batch(num_tasks=2, group_size=2)  # worker 1 hosts 1, 3
    with make_pool(step_timeout_s=1.0) as pool:
        pids = pool.worker_pids
        pool.reset(batch)
        started = time.monotonic()
        steps = pool.step(["hang" if i == 3 else "stay" for i in range(4)])
        elapsed = time.monotonic() - started
        assert 1.0 <= elapsed < 4.0
        assert "no answer within 1 s" in steps[3].info["error"]
        assert "timeout in episode 3" in steps[1].info["error"] and steps[1].truncated
        assert "error" not in steps[0].info and "error" not in steps[2].info
        assert pool.worker_pids[0] == pids[0] and pool.worker_pids[1] != pids[1]
        assert wait_gone([pids[1]]) == []
        assert pool.stats()["env/worker_timeouts"] == 1
        assert play_pool(pool, batch) == play_sequential(batch, max_steps=8)


def test_a_worker_killed_while_idle_is_noticed_at_the_next_step():
    batch = group_batch(num_tasks=2, group_size=2)  # worker 1 hosts 1, 3
    with make_pool() as pool:
        pool.reset(batch)
        os.kill(pool.worker_pids[1], signal.SIGKILL)  # e.g. the OOM killer
        steps = pool.step(["stay"] * 4)
        assert "worker crashed (killed by SIGKILL) during env.step" in steps[1].info["error"]
        assert "environment lost" in steps[3].info["error"]
        assert "error" not in steps[0].info and "error" not in steps[2].info
        assert play_pool(pool, batch) == play_sequential(batch, max_steps=8)


def test_batches_of_other_sizes_reuse_and_add_env_instances():
    with make_pool() as pool:
        for batch in (group_batch(num_tasks=1, group_size=1), group_batch(num_tasks=3, group_size=3),
                      group_batch(num_tasks=2, group_size=2, seed=3)):
            assert play_pool(pool, batch) == play_sequential(batch, max_steps=8)


def test_exception_in_step_ends_only_that_episode():
    batch = group_batch(num_tasks=2, group_size=2)
    with make_pool() as pool:
        pids = pool.worker_pids
        pool.reset(batch)
        steps = pool.step(["raise" if i == 1 else "stay" for i in range(4)])
        assert steps[1].truncated and "RuntimeError: injected failure" in steps[1].info["error"]
        assert pool.errors.keys() == {1} and pool.active == [0, 2, 3] and pool.worker_pids == pids
        assert pool.stats()["env/exceptions"] == 1
        assert play_pool(pool, batch) == play_sequential(batch, max_steps=8)  # the env was rebuilt


def test_idle_episodes_of_a_crashed_worker_end_at_their_next_step():
    batch = group_batch(num_tasks=3, group_size=2)
    with make_pool() as pool:
        pool.reset(batch)
        (crashed,) = pool.step(["crash"], episode_ids=[2])
        assert crashed.truncated and "crashed" in crashed.info["error"]
        assert pool.active == [0, 1, 3, 4, 5]
        steps = pool.step(["stay"] * 5)
        assert [("environment lost" in s.info.get("error", "")) for s in steps] == [True, False, False, True, False]
        assert steps[0].observation == pool.reset(batch)[0]  # ended where it stood


@pytest.mark.parametrize(("failure", "message"), [("crash", "worker crashed (exit code 7) during env.reset"),
                                                  ("hang", "no answer within 1 s (hung) during env.reset"),
                                                  ("raise", "RuntimeError: injected failure")])
def test_failed_reset_flags_only_its_episode(failure, message):
    batch = group_batch(num_tasks=3, group_size=2)
    bad = Task(uid=f"walk-{failure}-reset", prompt="Reach cell 1.", answer="1")
    batch[2] = (bad, 0)  # worker 0 also hosts episodes 0 and 4, reset before and after it
    with make_pool(reset_timeout_s=1.0) as pool:
        observations = pool.reset(batch)
        assert observations[2] == FAILED_RESET and list(pool.errors) == [2]
        assert message in pool.errors[2]
        reference = play_sequential(batch, max_steps=8, skip={2})
        assert [observations[i] for i in (0, 1, 3, 4, 5)] == [reference[i][0] for i in (0, 1, 3, 4, 5)]
        trajectories = play_on(pool, observations)
        assert len(trajectories[2]) == 2 and trajectories[2][1].truncated and "error" in trajectories[2][1].info
        assert [trajectories[i] for i in (0, 1, 3, 4, 5)] == [reference[i] for i in (0, 1, 3, 4, 5)]
        expected_restarts = 0 if failure == "raise" else 1
        assert pool.stats()["env/worker_restarts"] == expected_restarts


class Interrupted(Exception):
    pass


def test_answers_to_an_interrupted_call_are_not_mistaken_for_the_next_ones():
    batch = group_batch(num_tasks=2, group_size=2)
    reference = play_sequential(batch, max_steps=8)
    previous = signal.signal(signal.SIGUSR1, lambda *_: (_ for _ in ()).throw(Interrupted()))
    try:
        with make_pool(env_kwargs={"step_delay_s": 0.2}) as pool:
            observations = pool.reset(batch)
            timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
            timer.start()
            with pytest.raises(Interrupted):  # like Ctrl-C in the trainer, mid-step
                pool.step(["left"] * 4)
            timer.join()
            assert pool.reset(batch) == observations == [t[0] for t in reference]
            steps = pool.step([walk_policy(observations[i], i, 0) for i in range(4)])
            assert steps == [t[1] for t in reference]
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_too_many_workers_is_refused_before_any_process_starts():
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(TooManyWorkersError, match=rf"at most {available_cpus()}") as err:
        EnvPool(ToyWalkEnv, available_cpus() + 1, max_steps=5, **TIMEOUTS)
    assert "sched_getaffinity" in str(err.value)
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before


def test_env_build_error_is_raised_with_its_message_and_leaves_no_worker():
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(EnvPoolError, match="pip install toy-walk"):
        make_pool(env_kwargs={"fail_on_build": True})
    new = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert wait_gone(new - _multiprocessing_helpers()) == []


def test_unpicklable_factory_is_refused():
    with pytest.raises(EnvPoolError, match="cannot be pickled"):
        EnvPool(lambda: ToyWalkEnv(), 1, max_steps=5, **TIMEOUTS)


def test_close_leaves_no_processes_behind():
    pool = make_pool()
    pool.reset(group_batch(num_tasks=1, group_size=2))
    steps = pool.step(["spawn", "spawn"])  # each env starts a `sleep 60` child
    children = [s.info["child_pid"] for s in steps]
    workers = pool.worker_pids
    tree = workers + [p.pid for w in workers for p in psutil.Process(w).children(recursive=True)]
    assert set(children) <= set(tree) and all(running(p) for p in tree)
    pool.close()
    pool.close()  # idempotent
    assert wait_gone(tree) == []
    with pytest.raises(RuntimeError, match="closed"):
        pool.reset(group_batch())


def test_a_dropped_pool_shuts_its_workers_down():
    pool = make_pool()
    workers = pool.worker_pids
    del pool
    gc.collect()
    assert wait_gone(workers) == []


def test_spawn_start_method_plays_the_same():
    batch = group_batch(num_tasks=2, group_size=2)
    with make_pool(start_method="spawn") as pool:
        assert play_pool(pool, batch) == play_sequential(batch, max_steps=8)


def test_a_hydra_partial_env_node_is_an_env_factory():
    node = OmegaConf.create({"_target_": "tests.envs.toy_env.ToyWalkEnv", "_partial_": True, "wind": 0.0})
    factory = hydra.utils.instantiate(node)
    batch = group_batch(num_tasks=2, group_size=2)
    with EnvPool(factory, WORKERS, max_steps=8, **TIMEOUTS) as pool:
        pool.reset(batch)
        steps = pool.step(["right"] * 4)
    reference = ToyWalkEnv(wind=0.0)
    assert steps == [reference.reset(task, seed) and reference.step("right") for task, seed in batch]


OWNER_SCRIPT = """
import functools, sys, time
from rlx.envs.pool import EnvPool
from tests.envs.toy_env import ToyWalkEnv
if __name__ == "__main__":
    pool = EnvPool(functools.partial(ToyWalkEnv), 1, step_timeout_s=5, reset_timeout_s=5, max_steps=5,
                   start_method=sys.argv[1])
    print(" ".join(map(str, pool.worker_pids)), flush=True)
    if sys.argv[2] == "sleep":
        time.sleep(60)
"""


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_workers_die_with_a_killed_trainer(start_method, tmp_path):
    script = tmp_path / "owner.py"
    script.write_text(OWNER_SCRIPT)
    owner = subprocess.Popen([sys.executable, str(script), start_method, "sleep"], cwd=REPO,
                             stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        workers = [int(p) for p in owner.stdout.readline().split()]
        tree = [p.pid for p in psutil.Process(owner.pid).children(recursive=True)]
        assert workers and set(workers) <= set(tree)
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
        assert wait_gone(tree) == []
    finally:
        owner.kill()


def test_interpreter_exit_without_close_shuts_workers_down(tmp_path):
    script = tmp_path / "owner.py"
    script.write_text(OWNER_SCRIPT)
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script), "forkserver", "exit"], cwd=REPO, capture_output=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)}, text=True)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    assert wait_gone([int(p) for p in done.stdout.split()]) == []


def test_error_steps_and_observations_pickle():
    step = Step(Observation("x"), reward=0.0, terminated=False, truncated=True, info={"error": "crashed"})
    assert pickle.loads(pickle.dumps(step)) == step
    assert pickle.loads(pickle.dumps(FAILED_RESET)) == FAILED_RESET


def _multiprocessing_helpers() -> set[int]:
    """The forkserver / resource tracker processes multiprocessing keeps for this interpreter."""
    helpers = set()
    for child in psutil.Process().children():
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "forkserver" in cmdline or "resource_tracker" in cmdline:
            helpers.add(child.pid)
    return helpers


def warnings_in(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlx: warning: EnvPool")]


def test_crashes_hangs_and_replacements_print_one_warning_line_each(capsys):
    batch = group_batch(num_tasks=3, group_size=2)  # 6 episodes: worker 0 hosts 0, 2, 4
    with make_pool(step_timeout_s=1.0) as pool:
        pool.reset(batch)
        assert warnings_in(capsys) == []
        old = pool.worker_pids[0]
        pool.step(["crash" if i == 2 else "stay" for i in range(6)])
        assert warnings_in(capsys) == [
            f"rlx: warning: EnvPool worker 0 (pid {old}): worker crashed (exit code 7) during env.step of "
            f"episode 2; ended that episode and its 2 other(s) on the worker; replaced it with pid "
            f"{pool.worker_pids[0]}"]
        pool.reset(batch)
        old = pool.worker_pids[1]
        pool.step(["hang" if i == 3 else "stay" for i in range(6)])
        (line,) = warnings_in(capsys)
        assert line.startswith(f"rlx: warning: EnvPool worker 1 (pid {old}): no answer within 1 s (hung) "
                               "during env.step of episode 3; ended that episode and its 2 other(s)")
        pool.step(["stay"] * len(pool.active), episode_ids=pool.active)
        assert warnings_in(capsys) == []  # nothing failed: nothing printed
    bad = list(batch)
    bad[2] = (Task(uid="walk-crash-reset", prompt="Reach cell 1.", answer="1"), 0)
    with make_pool(reset_timeout_s=1.0) as pool:
        old = pool.worker_pids[0]
        pool.reset(bad)
        assert warnings_in(capsys) == [
            f"rlx: warning: EnvPool worker 0 (pid {old}): worker crashed (exit code 7) during env.reset of "
            f"episode 2; ended that episode, resetting its others again; replaced it with pid "
            f"{pool.worker_pids[0]}"]
