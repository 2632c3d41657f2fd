"""The process layout from torchrun / SLURM variables, shares, devices and the launch-time
checks, all without a process group."""

import pytest
import torch
from omegaconf import OmegaConf

from rlx.config.compose import check_overrides
from rlx.config.validate import ConfigError
from rlx.distributed import (ProcessLayout, all_gather_objects, all_reduce_sum, device_for,
                             process_layout, scontrol_hostnames, slurm_port)
from rlx.launchers.local import LocalLauncher, torchrun_command
from rlx.train.parallel import DataParallel, check_world_size

TORCHRUN = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "10.0.0.7",
            "MASTER_PORT": "29611"}
SLURM = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1",
         "SLURM_JOB_NODELIST": "gpu[07-10]", "SLURM_JOB_ID": "123456"}


def no_scontrol(nodelist):
    raise AssertionError("scontrol must not be asked")


def test_no_variables_is_one_process():
    assert process_layout({}, no_scontrol) == ProcessLayout()
    assert not ProcessLayout().distributed and ProcessLayout().is_main


def test_torchrun_variables():
    layout = process_layout(TORCHRUN, no_scontrol)
    assert layout == ProcessLayout(rank=3, world_size=4, local_rank=1, master_addr="10.0.0.7",
                                   master_port=29611, source="torchrun")
    assert layout.distributed and not layout.is_main


def test_world_size_one_is_one_process():
    assert process_layout({**TORCHRUN, "RANK": "0", "WORLD_SIZE": "1"}, no_scontrol) == ProcessLayout()
    assert process_layout({**SLURM, "SLURM_PROCID": "0", "SLURM_NTASKS": "1"}, no_scontrol) == ProcessLayout()


def test_slurm_variables_master_is_first_host():
    asked = []

    def hostnames(nodelist):
        asked.append(nodelist)
        return ["gpu07", "gpu08", "gpu09", "gpu10"]

    layout = process_layout(SLURM, hostnames)
    assert asked == ["gpu[07-10]"]
    assert layout == ProcessLayout(rank=5, world_size=8, local_rank=1, master_addr="gpu07",
                                   master_port=slurm_port("123456"), source="slurm")


def test_torchrun_variables_win_inside_slurm():
    assert process_layout({**SLURM, **TORCHRUN}, no_scontrol).source == "torchrun"


def test_slurm_port_is_stable_and_in_range():
    assert slurm_port("123456") == slurm_port(123456) == 20000 + (123456 * 1009) % 20000
    assert slurm_port("77_3") != slurm_port("77_4")  # array tasks differ
    ports = {slurm_port(j) for j in range(1000, 1100)}
    assert len(ports) == 100 and all(20000 <= p < 40000 for p in ports)


def test_plain_host_name_needs_no_scontrol():
    assert scontrol_hostnames("node-1.cluster") == ["node-1.cluster"]


def test_shares_are_contiguous_and_cover_everything():
    for n, world in [(8, 2), (7, 3), (2, 4), (0, 2)]:
        shares = [ProcessLayout(rank=r, world_size=world).share(n) for r in range(world)]
        covered = [i for s in shares for i in range(n)[s]]
        assert covered == list(range(n))
        sizes = [len(range(n)[s]) for s in shares]
        assert max(sizes) - min(sizes) <= 1
    assert ProcessLayout(rank=1, world_size=3).share(7) == slice(3, 5)


def test_micro_batches_of_a_rank_share():
    rows = torch.arange(10, 17)  # 7 rows over 2 ranks: 4 + 3
    rank1 = DataParallel(ProcessLayout(rank=1, world_size=2))
    assert [(idx.tolist(), real) for idx, real in rank1.micro_batches(rows, 2)] == \
        [([14, 15], True), ([16], True)]
    one = DataParallel()
    assert [idx.tolist() for idx, _ in one.micro_batches(rows, 3)] == [[10, 11, 12], [13, 14, 15], [16]]


def test_helpers_are_identities_in_one_process():
    layout = ProcessLayout()
    assert all_reduce_sum([1.5, 2], layout) == [1.5, 2.0]
    assert all_gather_objects({"a": 1}, layout) == [{"a": 1}]
    t = torch.ones(2, 3)
    assert DataParallel().gather_rows(t) is t


def test_device_per_local_rank():
    two = ProcessLayout(rank=1, world_size=2, local_rank=1)
    assert device_for(two, "cpu") == torch.device("cpu")
    assert device_for(ProcessLayout(), "cuda:3") == torch.device("cuda:3")
    assert device_for(two, "cuda") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match="device=auto or device=cuda"):
        device_for(two, "cuda:0")


def test_tasks_must_split_evenly_over_processes():
    check_world_size(8, 4, "x")
    with pytest.raises(ValueError, match=r"trainer.tasks_per_iter=6 must be a multiple .* \(4, "):
        check_world_size(6, 4, "x")


def test_local_launcher_process_count_checked_against_machine(monkeypatch):
    monkeypatch.setattr("rlx.launchers.local.visible_gpus", lambda: 0)
    cpu = {"device": "auto"}
    assert LocalLauncher(nprocs="auto").world_size(cpu) == 1
    assert LocalLauncher(nprocs=2).world_size({"device": "cpu"}) == 2
    with pytest.raises(ValueError, match=r"launcher.nprocs=4096 CPU processes, but only \d+ CPU"):
        LocalLauncher(nprocs=4096).world_size(cpu)
    with pytest.raises(ValueError, match="launcher.nprocs=0"):
        LocalLauncher(nprocs=0).world_size(cpu)
    monkeypatch.setattr("rlx.launchers.local.visible_gpus", lambda: 2)
    assert LocalLauncher(nprocs="auto").world_size(cpu) == 2
    with pytest.raises(ValueError, match="launcher.nprocs=3, but this machine has 2 visible CUDA"):
        LocalLauncher(nprocs=3).world_size(cpu)
    with pytest.raises(ValueError, match="device=cuda:1"):
        LocalLauncher(nprocs=2).world_size({"device": "cuda:1"})


def test_torchrun_command():
    cmd = torchrun_command("/runs/x", 2)
    assert cmd[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                       "-m", "rlx.train", "/runs/x"]


def test_launcher_command_is_torchrun_only_for_several_processes(tmp_path, monkeypatch):
    monkeypatch.setattr("rlx.launchers.local.visible_gpus", lambda: 0)
    (tmp_path / "config.yaml").write_text("device: cpu\n")
    assert LocalLauncher(nprocs=2).command(tmp_path) == torchrun_command(tmp_path, 2)
    assert LocalLauncher(nprocs=1).command(tmp_path)[1:] == ["-m", "rlx.train", str(tmp_path)]


def test_validation_names_tasks_per_iter_and_process_count():
    from rlx.launch import validate_config

    def config(*overrides):
        return OmegaConf.to_container(check_overrides(["model=tiny", *overrides]), resolve=True)

    validate_config(config("device=cpu", "launcher.nprocs=2", "trainer.tasks_per_iter=4"))
    with pytest.raises(ConfigError, match=r"tasks_per_iter=3 must be a multiple .*\(2, "):
        validate_config(config("device=cpu", "launcher.nprocs=2", "trainer.tasks_per_iter=3"))
    with pytest.raises(ConfigError, match="trainer.parallel"):
        validate_config(config("trainer.parallel=zero3"))
    with pytest.raises(ConfigError, match="launcher.nprocs"):
        validate_config(config("launcher.nprocs=two"))


def test_rank_stats_add_tokens_take_the_slowest_time_and_average_the_rest():
    from rlx.train.sharded_collect import rank_stats

    merged = rank_stats([
        {"perf/generation_tokens": 100.0, "perf/generation_s": 2.0, "perf/time/score": 0.5,
         "env/success_rate": 0.5, "perf/generation_tokens_per_s": 50.0},
        {"perf/generation_tokens": 300.0, "perf/generation_s": 4.0, "perf/time/score": 0.25,
         "env/success_rate": 1.0, "env/pick_success_rate": 1.0, "perf/generation_tokens_per_s": 75.0},
    ])
    assert merged == {"perf/generation_tokens": 400.0, "perf/generation_s": 4.0,
                      "perf/time/score": 0.5, "env/success_rate": 0.75,
                      "perf/generation_tokens_per_s": 100.0, "env/pick_success_rate": 1.0}
