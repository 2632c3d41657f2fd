"""2 gloo processes on the CPU give the single-process results on the same global batch:
the gathered rollouts, their log-probs and batch-normalised advantages, and the parameters,
optimizer state and statistics after `ppo_update` (DDP-style gradient sums and FSDP2),
also when an FSDP run resumes from a single-process checkpoint."""

import pytest
import torch
import torch.multiprocessing as mp

from rlx.train.parallel import DataParallel
from tests.distributed.workers import CASES, free_port, rank_main, rollout_case, update_case

pytestmark = pytest.mark.slow
ATOL = 1e-5
UNSTABLE_STATS: set[str] = set()  # every logged stat must match


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("rlx_cache"))


@pytest.fixture(scope="module")
def results(tmp_path_factory, cache_dir):
    """(single-process results, [rank 0's, rank 1's])."""
    out = tmp_path_factory.mktemp("ranks")
    single = {"rollout": rollout_case(DataParallel(), cache_dir)}  # also builds the tiny model
    for name, case in CASES.items():
        single[f"update/{name}"] = update_case(case, DataParallel(), cache_dir)
    torch.save(single, out / "single.pt")
    mp.spawn(rank_main, args=(2, free_port(), str(out), cache_dir), nprocs=2, join=True)
    return single, [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]


def assert_close(a, b, what):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), what
        for k in a:
            if k not in UNSTABLE_STATS:
                assert_close(a[k], b[k], f"{what}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{what}[{i}]")
    elif torch.is_tensor(a):
        assert a.shape == b.shape, what
        torch.testing.assert_close(a.double(), b.double(), atol=ATOL, rtol=1e-5, msg=what)
    elif isinstance(a, float):
        assert a == pytest.approx(b, abs=ATOL, rel=1e-5), what
    else:
        assert a == b, what


def test_collectives(results):
    for rank in results[1]:
        got = rank["collectives"]
        assert torch.equal(got["sum"], torch.tensor([3.0, 10.0]))
        assert got["mean"] == [1.5] and got["max"] == 6
        assert got["objects"] == [{"rank": 0}, {"rank": 1}]


def test_gathered_rollouts_logprobs_and_batch_normalised_advantages(results):
    single, ranks = results
    for rank in ranks:
        got, want = rank["rollout"], single["rollout"]
        assert got["uids"] == want["uids"]
        assert torch.equal(got["group_ids"], want["group_ids"])  # offset to 0..N-1 over ranks
        assert torch.equal(got["input_ids"], want["input_ids"])
        for key in ("logprobs", "entropy", "reinforce_pp", "lite_ppo"):
            assert_close(got[key], want[key], key)
    assert want["reinforce_pp"][want["action_mask"]].abs().sum() > 1  # a real signal


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
@pytest.mark.parametrize("name", list(CASES))
def test_update_equals_single_process(results, mode, name):
    single, ranks = results
    want = single[f"update/{name}"]
    for rank in ranks:
        assert_close(rank[f"{mode}/{name}"], want, f"{mode}/{name}")
    # not vacuous: every parameter moved in both updates
    first, second = want["first"]["params"], want["second"]["params"]
    moved = [n for n in first if (first[n] - second[n]).abs().max() > 1e-5]
    assert len(moved) == len(first), set(first) - set(moved)


@pytest.mark.parametrize("name", list(CASES))
def test_fsdp_resumes_from_a_single_process_checkpoint(results, name):
    single, ranks = results
    for rank in ranks:
        assert_close(rank[f"fsdp_resumed/{name}"], single[f"update/{name}"]["second"], name)
