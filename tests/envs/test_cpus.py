import os

from rlx.envs.cpus import available_cpus, cpu_limits, describe_cpu_limits


def fake_cgroup(tmp_path, proc_lines, files):
    tmp_path.mkdir(parents=True, exist_ok=True)
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text("\n".join(proc_lines) + "\n")
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return dict(cgroup_root=root, proc_self_cgroup=proc)


def test_this_machine_limits_are_consistent():
    limits = cpu_limits()
    assert limits["os.cpu_count"] == os.cpu_count()
    assert limits["sched_getaffinity"] == len(os.sched_getaffinity(0))
    assert 1 <= available_cpus() <= os.cpu_count()


def test_cgroup_v2_quota_rounds_down_and_reads_parent_groups(tmp_path):
    paths = fake_cgroup(tmp_path, ["0::/job/step"],
                        {"job/cpu.max": "150000 100000\n", "job/step/cpu.max": "max 100000\n"})
    assert cpu_limits(**paths, environ={})["cgroup cpu.max"] == 1
    paths = fake_cgroup(tmp_path / "b", ["0::/job/step"], {"job/step/cpu.max": "400000 100000\n"})
    assert cpu_limits(**paths, environ={})["cgroup cpu.max"] == 4
    paths = fake_cgroup(tmp_path / "c", ["0::/job/step"], {"job/cpu.max": "200000 100000\n",
                                                           "job/step/cpu.max": "400000 100000\n"})
    assert cpu_limits(**paths, environ={})["cgroup cpu.max"] == 2  # the tightest level applies


def test_cgroup_unlimited_adds_no_limit(tmp_path):
    paths = fake_cgroup(tmp_path, ["0::/"], {"cpu.max": "max 100000\n"})
    assert "cgroup cpu.max" not in cpu_limits(**paths, environ={})
    paths = fake_cgroup(tmp_path / "v1", ["1:cpu,cpuacct:/", "0::/"],
                        {"cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"})
    assert not any(name.startswith("cgroup") for name in cpu_limits(**paths, environ={}))


def test_cgroup_v1_quota(tmp_path):
    paths = fake_cgroup(tmp_path, ["4:cpu,cpuacct:/docker/abc", "0::/"],
                        {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "300000\n",
                         "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n"})
    assert cpu_limits(**paths, environ={})["cgroup cpu.cfs_quota_us"] == 3


def test_slurm_cpus_per_task_and_the_smallest_limit_wins(tmp_path):
    paths = fake_cgroup(tmp_path, ["0::/"], {"cpu.max": "max 100000\n"})
    limits = cpu_limits(**paths, environ={"SLURM_CPUS_PER_TASK": "1"})
    assert limits["SLURM_CPUS_PER_TASK"] == 1
    assert available_cpus(**paths, environ={"SLURM_CPUS_PER_TASK": "1"}) == 1
    assert "SLURM_CPUS_PER_TASK" not in cpu_limits(**paths, environ={"SLURM_CPUS_PER_TASK": ""})


def test_describe_lists_the_smallest_first():
    text = describe_cpu_limits({"os.cpu_count": 64, "SLURM_CPUS_PER_TASK": 4})
    assert text == "SLURM_CPUS_PER_TASK: 4, os.cpu_count: 64"
