"""EnvPool: many text-environment episodes in worker processes, stepped in parallel, never hanging.

```
with EnvPool(functools.partial(AlfworldEnv, split="train"), num_workers=8,
             step_timeout_s=30, reset_timeout_s=120, max_steps=50) as pool:
    observations = pool.reset([(task, seed) for task, seed in batch for _ in range(G)])
    while pool.active:
        ids = pool.active
        actions = policy([observations[i] for i in ids])
        for i, step in zip(ids, pool.step(actions)):
            observations[i] = step.observation        # step.reward, .terminated, .truncated, .info
    log(pool.stats())                                 # env/... and perf/... figures
```

Layout. `num_workers` processes (at most the CPUs this job may use, checked before any starts:
see `rlx.envs.cpus`). Episode `i` of a reset batch of B lives in worker `i % num_workers`, in that
worker's env slot `i // num_workers`; a worker hosts `ceil(B / num_workers)` env instances (built
by `env_factory` in the worker, once, and reused by later resets) and plays its share one after
another, while the workers run in parallel. The G copies of a task reset with the same seed start in
the same state wherever they run (the env's contract), and are spread over the workers.

Episodes. `reset` starts a new batch (abandoning any unfinished episodes); `step` takes one action per
active episode (or for the `episode_ids` given) and returns their `Step`s. The pool counts steps and
sets `truncated=True` on the step that reaches `max_steps`; an episode is done once a step is
terminated or truncated, and then leaves `active`.

Failures end episodes, never the run:
- an exception in the env's `reset`/`step`: that episode ends (`truncated=True`,
  `info["error"]` = the traceback); the worker goes on and rebuilds that env instance.
- a worker that dies (segfault, `os._exit`, OOM kill) or does not answer within `step_timeout_s`
  for a step (`reset_timeout_s` for a reset; timed per env call, so a worker hosting k episodes may
  take k times that for a batch) is killed with its process group and replaced by a fresh process.
  The episode it was playing ends with `info["error"]` naming the crash or timeout; the other
  episodes it hosted lost their environment, so they end too (flagged the same way: those in this
  call at once, the others with their next `step`). In a reset, the episodes a replaced worker had
  not failed on are reset again on its replacement, so only the culprit is lost.
- An episode whose reset failed stays active with an empty observation; its first `step` returns
  the flagged end. So every episode ends with a `Step` the caller sees; `errors` lists them and the
  trainer can drop or mask them.
Every wait has a timeout. The workers are shut down by `close()`, the context manager, garbage
collection or interpreter exit, and die with the trainer even when it is killed (a worker gets
SIGKILL when its parent dies, and exits when the owning process is gone). A pool created from a
thread other than the main thread with `start_method="spawn"` is tied to that thread's life (Linux
parent-death signal semantics): create it from the main thread.

Workers are started with "forkserver" (default: fast replacements, safe when the trainer holds CUDA
or threads) or "spawn"; so `env_factory` must pickle (a class, or a `functools.partial` of one as
Hydra's `_partial_: true` gives). Worker processes are not daemonic, so environments may start their
own processes; everything a worker starts stays in its process group and is killed with it.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Literal

from rlx.envs.base import Task
from rlx.envs.cpus import cpu_limits, describe_cpu_limits
from rlx.envs.pool_worker import worker_main
from rlx.envs.text_env import Observation, Step, TextEnv

FAILED_RESET = Observation(text="", admissible=None, state_key="<reset failed>")


class EnvPoolError(RuntimeError):
    """The pool cannot run at all (workers fail to start, the env cannot be built or pickled)."""


class TooManyWorkersError(ValueError):
    """More workers were asked for than this job has CPUs."""


@dataclasses.dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection


@dataclasses.dataclass(frozen=True)
class _Failure:
    """A worker stopped answering while it was working on env slot `slot`."""

    slot: int
    kind: Literal["crash", "timeout"]
    reason: str


class EnvPool:
    """B episodes of a `TextEnv` in `num_workers` processes. See the module docstring.

    env_factory: builds one environment (called in the workers; must pickle).
    num_workers: worker processes; at most the CPUs this job may use.
    step_timeout_s: longest one env `step` may take before its worker is declared hung.
    reset_timeout_s: the same for one `reset` (include the env's lazy set-up on first use).
    max_steps: steps per episode; the step reaching it is returned with `truncated=True`.
    start_method: how worker processes start ("forkserver" or "spawn"; never fork).
    start_timeout_s: longest a worker may take to start and build its first environment.
    close_timeout_s: how long `close()` lets workers close their envs before killing them.
    """

    def __init__(
        self,
        env_factory: Callable[[], TextEnv],
        num_workers: int,
        *,
        step_timeout_s: float,
        reset_timeout_s: float,
        max_steps: int,
        start_method: Literal["forkserver", "spawn"] = "forkserver",
        start_timeout_s: float = 120.0,
        close_timeout_s: float = 5.0,
    ):
        _check_worker_count(num_workers)
        for name, value in (("step_timeout_s", step_timeout_s), ("reset_timeout_s", reset_timeout_s),
                            ("start_timeout_s", start_timeout_s), ("max_steps", max_steps)):
            if value <= 0:
                raise ValueError(f"EnvPool: {name} must be positive, got {value}")
        try:
            pickle.dumps(env_factory)
        except Exception as err:
            raise EnvPoolError(
                f"EnvPool: env_factory {env_factory!r} cannot be pickled to the worker processes ({err}); "
                "pass an importable class or a functools.partial of one (Hydra `_partial_: true`)"
            ) from err
        self.env_factory = env_factory
        self.num_workers = num_workers
        self.step_timeout_s = step_timeout_s
        self.reset_timeout_s = reset_timeout_s
        self.max_steps = max_steps
        self.start_timeout_s = start_timeout_s
        self.close_timeout_s = close_timeout_s
        self._ctx = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self._ctx.set_forkserver_preload(["rlx.envs.pool_worker"])
        self._workers: list[_Worker] = []
        self._call = 0
        self._closed = False
        # Shut the workers down on close(), garbage collection or interpreter exit. Registered after
        # multiprocessing's own exit hook, so it runs first (atexit is last-in, first-out).
        self._shutdown = functools.partial(_shutdown_workers, self._workers, close_timeout_s)
        self._finalizer = weakref.finalize(self, self._shutdown)
        self._finalizer.atexit = False
        atexit.register(self._shutdown)
        self._new_batch(0)
        self._counters = _new_counters()
        try:
            self._workers.extend(self._start_workers(num_workers))
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ episode state

    @property
    def num_episodes(self) -> int:
        """B: the number of episodes of the current batch."""
        return len(self._done)

    @property
    def active(self) -> list[int]:
        """Ids (0..B-1) of the episodes not done yet, in order."""
        return [i for i, done in enumerate(self._done) if not done]

    @property
    def done(self) -> list[bool]:
        return list(self._done)

    @property
    def episode_steps(self) -> list[int]:
        """Steps taken so far by each episode."""
        return list(self._steps)

    @property
    def observations(self) -> list[Observation]:
        """Each episode's latest observation."""
        return list(self._last_obs)

    @property
    def errors(self) -> dict[int, str]:
        """Episodes of this batch ended (or about to end) by a failure: id -> error text."""
        return dict(self._errors)

    @property
    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    # ------------------------------------------------------------------ reset / step

    def reset(self, tasks_with_seeds: Sequence[tuple[Task, int]]) -> list[Observation]:
        """Start one episode per `(task, seed)`; returns the B initial observations, in order.

        Copies of a task with the same seed start in the same state (group rollouts).
        """
        self._check_open()
        started = time.monotonic()
        self._new_batch(len(tasks_with_seeds))
        observations: list[Observation] = [FAILED_RESET] * self.num_episodes
        todo = {w: list(range(w, self.num_episodes, self.num_workers)) for w in range(self.num_workers)}
        while todo:
            jobs = {w: [(self._slot(i), tuple(tasks_with_seeds[i])) for i in ids] for w, ids in todo.items() if ids}
            retry = {}
            for w, (results, failure) in self._run("reset", jobs, self.reset_timeout_s).items():
                for slot, ok, payload in results:
                    if ok:
                        observations[self._episode(w, slot)] = payload
                    else:
                        self._counters["exceptions"] += 1
                        self._end_at_reset(self._episode(w, slot), f"exception in env.reset: {payload}")
                if failure is not None:
                    culprit = self._episode(w, failure.slot)
                    self._end_at_reset(culprit, f"{failure.reason} during env.reset")
                    self._replace_worker(w, f"{failure.reason} during env.reset of episode {culprit}",
                                         "ended that episode, resetting its others again")
                    retry[w] = [i for i in todo[w] if i not in self._pending]  # their env state is gone
            todo = retry
        self._last_obs = [FAILED_RESET if i in self._pending else obs for i, obs in enumerate(observations)]
        self._counters["resets"] += self.num_episodes - len(self._pending)
        self._counters["reset_time"] += time.monotonic() - started
        return list(self._last_obs)

    def step(self, actions: Sequence[str], episode_ids: Sequence[int] | None = None) -> list[Step]:
        """Apply `actions[k]` to episode `episode_ids[k]` (default: `self.active`); returns their Steps."""
        self._check_open()
        ids = self.active if episode_ids is None else [int(i) for i in episode_ids]
        self._check_step_ids(ids, actions)
        started = time.monotonic()
        steps: dict[int, Step] = {i: self._pending.pop(i) for i in ids if i in self._pending}
        jobs: dict[int, list[tuple[int, str]]] = {}
        for i, action in zip(ids, actions):
            if i not in steps:
                jobs.setdefault(self._worker_of(i), []).append((self._slot(i), action))
        for w, (results, failure) in self._run("step", jobs, self.step_timeout_s).items():
            for slot, ok, payload in results:
                i = self._episode(w, slot)
                if ok:
                    steps[i] = payload
                    self._counters["steps"] += 1
                else:
                    self._counters["exceptions"] += 1
                    steps[i] = self._error_step(i, f"exception in env.step: {payload}")
            if failure is not None:
                self._lose_worker(w, failure, [self._episode(w, slot) for slot, _ in jobs[w]], steps)
        out = [self._record(i, steps[i]) for i in ids]
        self._counters["step_time"] += time.monotonic() - started
        return out

    def stats(self, reset: bool = True) -> dict[str, float]:
        """Counters since the last `stats(reset=True)`: `env/` counts and `perf/` times and rates."""
        c = self._counters
        out = {
            "env/steps": float(c["steps"]),
            "env/episodes_started": float(c["resets"]),
            "env/episodes_errored": float(c["errored"]),
            "env/exceptions": float(c["exceptions"]),
            "env/worker_crashes": float(c["crashes"]),
            "env/worker_timeouts": float(c["timeouts"]),
            "env/worker_restarts": float(c["restarts"]),
            "env/num_workers": float(self.num_workers),
            "perf/env_steps_per_s": c["steps"] / c["step_time"] if c["step_time"] > 0 else 0.0,
            "perf/time_env_step_s": c["step_time"],
            "perf/time_env_reset_s": c["reset_time"],
        }
        if reset:
            self._counters = _new_counters()
        return out

    # ------------------------------------------------------------------ shutdown

    def close(self) -> None:
        """Ask the workers to close their envs, kill what is left after `close_timeout_s`. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._shutdown)
        self._finalizer()

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ bookkeeping

    def _new_batch(self, num_episodes: int) -> None:
        self._done = [False] * num_episodes
        self._steps = [0] * num_episodes
        self._last_obs = [FAILED_RESET] * num_episodes
        self._pending: dict[int, Step] = {}  # episodes whose ending step is waiting for their next step()
        self._errors: dict[int, str] = {}

    def _worker_of(self, episode: int) -> int:
        return episode % self.num_workers

    def _slot(self, episode: int) -> int:
        return episode // self.num_workers

    def _episode(self, worker: int, slot: int) -> int:
        return slot * self.num_workers + worker

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("EnvPool is closed")

    def _check_step_ids(self, ids: list[int], actions: Sequence[str]) -> None:
        if len(ids) != len(actions):
            raise ValueError(f"EnvPool.step: {len(actions)} actions for {len(ids)} episodes")
        if len(set(ids)) != len(ids):
            raise ValueError(f"EnvPool.step: repeated episode ids {ids}")
        for i in ids:
            if not 0 <= i < self.num_episodes:
                raise ValueError(f"EnvPool.step: episode {i} does not exist (batch of {self.num_episodes})")
            if self._done[i]:
                raise ValueError(f"EnvPool.step: episode {i} is done; step only `pool.active` episodes")

    def _record(self, episode: int, step: Step) -> Step:
        """Count the step, apply `max_steps`, mark the episode done when it ended."""
        self._steps[episode] += 1
        if not (step.terminated or step.truncated) and self._steps[episode] >= self.max_steps:
            step = dataclasses.replace(step, truncated=True)
        if "error" in step.info:
            self._flag(episode, str(step.info["error"]))
        self._done[episode] = step.terminated or step.truncated
        self._last_obs[episode] = step.observation
        return step

    def _error_step(self, episode: int, error: str) -> Step:
        """An episode cut by a failure: unchanged observation, no reward, truncated and flagged."""
        return Step(observation=self._last_obs[episode], reward=0.0, terminated=False, truncated=True,
                    info={"error": error})

    def _end_at_reset(self, episode: int, error: str) -> None:
        self._pending[episode] = Step(observation=FAILED_RESET, reward=0.0, terminated=False, truncated=True,
                                      info={"error": error})
        self._flag(episode, error)

    def _flag(self, episode: int, error: str) -> None:
        """Count an episode ended by a failure (once) and keep its first error."""
        if episode not in self._errors:
            self._errors[episode] = error
            self._counters["errored"] += 1

    def _lose_worker(self, w: int, failure: _Failure, in_call: list[int], steps: dict[int, Step]) -> None:
        """Worker `w` crashed or hung during a step: end its episodes, replace it."""
        culprit = self._episode(w, failure.slot)
        steps[culprit] = self._error_step(culprit, f"{failure.reason} during env.step")
        lost = f"environment lost: worker {w} was replaced after a {failure.kind} in episode {culprit}"
        for i in in_call:
            if i == culprit:
                continue
            if i not in steps:
                steps[i] = self._error_step(i, lost)
            elif not (steps[i].terminated or steps[i].truncated):  # stepped fine, but cannot go on
                steps[i] = dataclasses.replace(steps[i], truncated=True, info={**steps[i].info, "error": lost})
        ended = {i for i in in_call if i != culprit}
        for i in range(w, self.num_episodes, self.num_workers):
            if not self._done[i] and i not in steps and i not in self._pending:
                self._pending[i] = self._error_step(i, lost)
                self._flag(i, lost)
                ended.add(i)
        self._replace_worker(w, f"{failure.reason} during env.step of episode {culprit}",
                             f"ended that episode and its {len(ended)} other(s) on the worker")

    # ------------------------------------------------------------------ workers

    def _start_workers(self, count: int) -> list[_Worker]:
        """Start `count` workers in parallel and wait until each has built its first env."""
        workers = []
        for _ in range(count):
            parent_conn, child_conn = self._ctx.Pipe(duplex=True)
            process = self._ctx.Process(target=worker_main, args=(child_conn, self.env_factory, os.getpid()),
                                        name="rlx-envpool-worker", daemon=False)
            process.start()
            child_conn.close()
            workers.append(_Worker(process, parent_conn))
        deadline = time.monotonic() + self.start_timeout_s
        try:
            for worker in workers:
                self._await_ready(worker, deadline)
        except BaseException:
            for worker in workers:
                _kill(worker)
            raise
        return workers

    def _await_ready(self, worker: _Worker, deadline: float) -> None:
        remaining = max(0.0, deadline - time.monotonic())
        ready = multiprocessing.connection.wait([worker.conn, worker.process.sentinel], timeout=remaining)
        if not ready:
            raise EnvPoolError(f"EnvPool: a worker did not start within start_timeout_s={self.start_timeout_s:g} s "
                               "(building the env took too long, or the machine is overloaded)")
        try:
            status, payload = pickle.loads(worker.conn.recv_bytes())
        except (EOFError, OSError) as err:
            raise EnvPoolError(f"EnvPool: a worker died while starting ({_exit_text(worker)}); "
                               "see its output above") from err
        if status == "fatal":
            raise EnvPoolError(f"EnvPool: building the environment failed in a worker:\n{payload}")

    def _replace_worker(self, w: int, what: str, done: str) -> None:
        """Kill worker `w` and start a fresh one; one warning line on stderr says which worker,
        what happened and what was done (the counters only reach the metrics later)."""
        old = self._workers[w].process.pid
        _kill(self._workers[w])
        self._workers[w] = self._start_workers(1)[0]
        self._counters["restarts"] += 1
        print(f"rlx: warning: EnvPool worker {w} (pid {old}): {what}; {done}; replaced it with "
              f"pid {self._workers[w].process.pid}", file=sys.stderr, flush=True)

    def _run(self, command: str, jobs: dict[int, list[tuple[int, Any]]], timeout_s: float
             ) -> dict[int, tuple[list[tuple[int, bool, Any]], _Failure | None]]:
        """Send each worker its items and collect the per-item results as they come.

        Returns, per worker: the (slot, ok, result-or-traceback) it answered, in order, and the
        failure that stopped it early (crash or no answer within `timeout_s` of the previous one).
        """
        self._call += 1
        results: dict[int, list[tuple[int, bool, Any]]] = {w: [] for w in jobs}
        failures: dict[int, _Failure] = {}
        waiting: dict[int, deque[int]] = {}
        deadline: dict[int, float] = {}
        for w, items in jobs.items():
            try:
                message = pickle.dumps((self._call, command, items), protocol=pickle.HIGHEST_PROTOCOL)
                self._workers[w].conn.send_bytes(message)
            except OSError:
                failures[w] = _Failure(items[0][0], "crash", f"worker crashed ({_exit_text(self._workers[w])})")
                continue
            waiting[w] = deque(slot for slot, _ in items)
            deadline[w] = time.monotonic() + timeout_s
        while waiting:
            now = time.monotonic()
            for w in [w for w in waiting if deadline[w] <= now]:
                failures[w] = _Failure(waiting.pop(w)[0], "timeout", f"no answer within {timeout_s:g} s (hung)")
            if not waiting:
                break
            owner = {}
            for w in waiting:
                owner[self._workers[w].conn] = w
                owner[self._workers[w].process.sentinel] = w
            ready = multiprocessing.connection.wait(list(owner), timeout=min(deadline[w] for w in waiting) - now)
            for w in {owner[obj] for obj in ready}:
                failure = self._drain(w, waiting, results[w])
                if failure is not None:
                    failures[w] = failure
                    del waiting[w]
                elif w in waiting:
                    deadline[w] = time.monotonic() + timeout_s
        for w, failure in failures.items():
            self._counters["crashes" if failure.kind == "crash" else "timeouts"] += 1
        return {w: (results[w], failures.get(w)) for w in jobs}

    def _drain(self, w: int, waiting: dict[int, deque[int]], results: list) -> _Failure | None:
        """Read every answer worker `w` has sent; a failure if it died (or broke the protocol)."""
        worker = self._workers[w]
        try:
            while w in waiting and worker.conn.poll():
                status, call, slot, payload = pickle.loads(worker.conn.recv_bytes())
                if call != self._call:
                    continue  # an answer to an earlier, interrupted call
                expected = waiting[w].popleft()
                if slot != expected:
                    return _Failure(expected, "crash", f"worker answered for slot {slot} instead of {expected}")
                results.append((slot, status == "ok", payload))
                if not waiting[w]:
                    del waiting[w]
        except (EOFError, OSError):
            pass
        except Exception as err:  # an answer that cannot be unpickled here  # noqa: BLE001
            return _Failure(waiting[w][0], "crash", f"unreadable answer from worker ({err!r})")
        if w in waiting and not worker.process.is_alive():
            return _Failure(waiting[w][0], "crash", f"worker crashed ({_exit_text(worker)})")
        return None


# ---------------------------------------------------------------------- module helpers


def _check_worker_count(num_workers: int) -> None:
    if not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"EnvPool: num_workers must be a positive int, got {num_workers!r}")
    limits = cpu_limits()
    cpus = min(limits.values())
    if num_workers > cpus:
        raise TooManyWorkersError(
            f"EnvPool: num_workers={num_workers} is more than the {cpus} CPU(s) this job may use "
            f"({describe_cpu_limits(limits)}). Each worker is a busy process: more workers than CPUs only "
            f"adds contention and slows the trainer. Set num_workers to at most {cpus} (a worker hosts "
            "several environments, so any number of episodes runs on fewer workers), or give the job more "
            "CPUs (SLURM: --cpus-per-task; docker: --cpus / --cpuset-cpus)."
        )


def _new_counters() -> dict[str, float]:
    return dict(steps=0, resets=0, errored=0, exceptions=0, crashes=0, timeouts=0, restarts=0,
                step_time=0.0, reset_time=0.0)


def _exit_text(worker: _Worker) -> str:
    worker.process.join(timeout=0.5)
    code = worker.process.exitcode
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _kill(worker: _Worker) -> None:
    """SIGKILL a worker's whole process group (it and anything its envs started), then reap it."""
    pid = worker.process.pid
    if pid is not None:
        try:
            os.killpg(pid, signal.SIGKILL)  # the worker leads its group (pgid = pid) once it has started
        except (ProcessLookupError, PermissionError):
            pass
        if worker.process.exitcode is None:  # not started its group yet, or not reaped: kill it directly
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    worker.process.join(timeout=5.0)
    worker.conn.close()


def _shutdown_workers(workers: list[_Worker], timeout_s: float) -> None:
    """Ask every worker to close, wait up to `timeout_s` in all, then kill what is left (and its group)."""
    for worker in workers:
        try:
            worker.conn.send_bytes(pickle.dumps((0, "close", None)))
        except OSError:
            pass
    deadline = time.monotonic() + timeout_s
    for worker in workers:
        worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
    for worker in workers:
        _kill(worker)
    workers.clear()
