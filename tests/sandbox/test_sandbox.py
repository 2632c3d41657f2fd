"""Real bubblewrap runs: normal programs work; hostile ones are contained, fail and end promptly."""

import os
import pickle
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from rlx.sandbox import ExecResult, Sandbox
from rlx.sandbox.sandbox import LAUNCHER_SOURCE
from tests.sandbox.helpers import requires_bwrap, tight_sandbox

pytestmark = requires_bwrap
REPO = Path(__file__).resolve().parents[2]


def timed_run(sandbox: Sandbox, program: str, **kwargs) -> tuple[ExecResult, float]:
    start = time.monotonic()
    result = sandbox.run(program, **kwargs)
    return result, time.monotonic() - start


def launcher_processes() -> list[int]:
    """Live processes started by a sandbox launcher (their command line holds its source)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"RLIMIT_NPROC" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def test_runs_a_program_with_stdin_and_output(sandbox):
    result = sandbox.run("import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))", stdin="1 2 39")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "42\n", "")
    assert (result.killed_by, result.timed_out) == (None, False)
    assert result.ok


def test_exit_code_and_traceback_without_launcher_frames(sandbox):
    result = sandbox.run("def f(x):\n    return 1 / x\n\nf(0)")
    assert result.exit_code == 1 and not result.ok and result.killed_by is None
    assert result.stderr.startswith("Traceback (most recent call last):\n  File \"/sandbox/main.py\", line 4")
    assert result.stderr.rstrip().endswith("ZeroDivisionError: division by zero")
    assert sandbox.run("import sys; sys.exit(3)").exit_code == 3
    syntax = sandbox.run("def f(:\n")
    assert syntax.exit_code == 1 and "SyntaxError" in syntax.stderr


def test_program_sees_a_private_writable_tmp_and_nothing_of_the_host(sandbox):
    program = f"""
import os
open("/tmp/scratch.txt", "w").write("ok")
print(open("/tmp/scratch.txt").read(), os.getcwd(), os.path.exists({str(REPO)!r}), os.path.exists("/home"))
"""
    assert sandbox.run(program).stdout == "ok /tmp False False\n"


def test_infinite_loop_is_stopped_by_the_cpu_limit(sandbox):
    result, seconds = timed_run(sandbox, "while True:\n    pass")
    assert (result.killed_by, result.exit_code, result.timed_out) == ("cpu_time", 128 + 24, False)  # SIGXCPU
    assert seconds < 2.5


def test_ignoring_sigxcpu_still_ends_at_the_hard_cpu_limit(sandbox):
    program = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass"
    result, seconds = timed_run(sandbox, program)
    assert (result.killed_by, result.exit_code) == ("cpu_time", 128 + 9)  # SIGKILL one second later
    assert seconds < 3.0


def test_sleeping_forever_is_stopped_by_the_wall_clock():
    result, seconds = timed_run(tight_sandbox(wall_seconds=1.5), "import time\ntime.sleep(1000)")
    assert (result.killed_by, result.timed_out, result.exit_code) == ("wall_time", True, -9)
    assert 1.5 <= seconds < 3.0


def test_fork_bomb_is_contained_and_leaves_no_process(sandbox):
    result, seconds = timed_run(sandbox, "import os\nwhile True:\n    os.fork()")
    assert result.killed_by == "processes" and result.exit_code != 0
    assert "Resource temporarily unavailable" in result.stderr
    assert seconds < 2.0
    # Children that survive their parent (sleeping) die with the sandbox too.
    sleepers = "import os, time\nfor _ in range(5):\n    if os.fork() == 0:\n        time.sleep(1000)\n" \
               "print('parent done')"
    assert sandbox.run(sleepers).stdout == "parent done\n"
    assert launcher_processes() == []


def test_threads_count_against_the_process_limit(sandbox):
    program = ("import threading, time\nfor _ in range(40):\n"
               "    threading.Thread(target=time.sleep, args=(0.2,)).start()")
    result = sandbox.run(program)
    assert result.killed_by == "processes" and "can't start new thread" in result.stderr


@pytest.mark.parametrize("program", ["x = bytearray(10**11)", "x = []\nwhile True:\n    x.append(bytearray(10**7))"])
def test_memory_bomb_is_stopped_by_the_memory_limit(sandbox, program):
    result, seconds = timed_run(sandbox, program)
    assert result.killed_by == "memory" and result.stderr.rstrip().endswith("MemoryError")
    assert seconds < 2.0


def test_no_network_not_even_the_hosts_loopback(sandbox):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    program = f"""
import socket
for address in [("127.0.0.1", {port}), ("1.1.1.1", 53)]:
    try:
        socket.create_connection(address, timeout=1).close()
        print("connected", address)
    except OSError as err:
        print(type(err).__name__, err.errno)
"""
    try:
        result = sandbox.run(program)
        with pytest.raises(TimeoutError):
            server.accept()  # nothing reached the host's listener
    finally:
        server.close()
    assert result.stdout == "ConnectionRefusedError 111\nOSError 101\n"  # own loopback; no route


def test_secrets_of_the_host_cannot_be_read(sandbox):
    private = [p for p in ["/etc/shadow", "/etc/passwd", "/etc/hostname", "/root/.bashrc", "/root/.ssh", "/home"]
               if os.path.exists(p)]
    assert "/etc/shadow" in private
    result = sandbox.run(f"import os\nprint([os.path.exists(p) for p in {private!r}])")
    assert result.stdout == f"{[False] * len(private)}\n"
    result = sandbox.run("print(open('/etc/shadow').read())")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.rstrip().endswith("No such file or directory: '/etc/shadow'")


def test_writes_outside_the_temp_dir_fail_and_leave_the_host_untouched(sandbox, tmp_path):
    targets = [tmp_path / "escape.txt", Path("/usr/escape.txt"), Path("/escape.txt"),
               Path(sys.base_prefix) / "escape.txt", REPO / "escape.txt"]
    program = "import sys\n" + "".join(
        f"try:\n    open({str(t)!r}, 'w').write('x')\n    print('wrote')\n"
        "except OSError as err:\n    print(type(err).__name__)\n"
        for t in targets
    )
    result = sandbox.run(program)
    assert "wrote" not in result.stdout and len(result.stdout.splitlines()) == len(targets)
    assert not any(t.exists() for t in targets)


def test_file_size_limit(sandbox):
    result = sandbox.run("open('/tmp/big', 'wb').write(b'x' * (2 * 2**20))")  # max_file_mb=1
    assert result.killed_by == "file_size" and "File too large" in result.stderr


def test_output_flood_is_cut_to_the_tail():
    box = tight_sandbox(max_output_bytes=1000)
    result = box.run("i = 0\nwhile True:\n    print(i)\n    i += 1")
    assert result.killed_by == "cpu_time"
    assert 900 < len(result.stdout) <= 1000 and result.stdout.endswith("\n")
    last = [int(line) for line in result.stdout.splitlines()[1:]]
    assert last == list(range(last[0], last[0] + len(last))) and last[0] > 10_000


def test_run_many_runs_concurrently_and_keeps_order(sandbox):
    programs = [f"import time\ntime.sleep(0.5)\nprint({i})" for i in range(4)]
    start = time.monotonic()
    results = sandbox.run_many(programs)
    seconds = time.monotonic() - start
    assert [r.stdout for r in results] == ["0\n", "1\n", "2\n", "3\n"]
    assert seconds < 1.8  # 2 workers: ~2 x 0.55 s; one at a time would take > 2.2 s
    assert sandbox.run_many([]) == []


def test_run_is_safe_from_many_threads(sandbox):
    outputs = {}

    def work(i):
        outputs[i] = sandbox.run(f"print({i} * {i})").stdout

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outputs == {i: f"{i * i}\n" for i in range(6)}


def test_pickles_to_a_fresh_usable_sandbox(sandbox):
    sandbox.run_many(["pass"])  # start its thread pool
    clone = pickle.loads(pickle.dumps(sandbox))
    assert (clone.cpu_seconds, clone.memory_mb, clone.workers) == (1, 256, 2)
    assert clone.run("print('again')").stdout == "again\n"


def test_launcher_source_is_the_launcher_module():
    assert "RLIMIT_NPROC" in LAUNCHER_SOURCE and "setresuid" in LAUNCHER_SOURCE


@pytest.mark.skipif(os.geteuid() != 0, reason="the unprivileged path is what non-root runs already test")
def test_works_unprivileged_too(tmp_path_factory):
    """As root, also check the non-root path: a copy of rlx.sandbox run by uid 65534 with the
    system Python (bwrap then makes a user namespace and RLIMIT_NPROC is counted inside it)."""
    import shutil
    import subprocess
    import tempfile

    system_python = shutil.which("python3", path="/usr/bin:/bin")
    if system_python is None:
        pytest.skip("no system python3 in /usr/bin")
    version = subprocess.run([system_python, "-c", "import sys; print(sys.version_info >= (3, 10))"],
                             capture_output=True, text=True).stdout.strip()
    if version != "True":
        pytest.skip("the system python3 is older than 3.10")
    root = Path(tempfile.mkdtemp(prefix="rlx-unpriv-", dir="/tmp"))
    try:
        (root / "rlx").mkdir()
        (root / "rlx" / "__init__.py").write_text("")
        shutil.copytree(REPO / "rlx" / "sandbox", root / "rlx" / "sandbox",
                        ignore=shutil.ignore_patterns("__pycache__"))
        script = root / "check.py"
        script.write_text(
            "import os\nfrom rlx.sandbox import Sandbox\n"
            "box = Sandbox(cpu_seconds=1, wall_seconds=3.0, memory_mb=256, max_processes=16, workers=1)\n"
            "print(os.getuid(), box.run('import os; print(os.getuid())').stdout.strip())\n"
            "print(box.run('import os\\nwhile True:\\n    os.fork()').killed_by)\n"
            "print(box.run('open(\"/etc/shadow\")').stderr.strip().splitlines()[-1])\n"
        )
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755)
        done = subprocess.run([system_python, str(script)], cwd=root, capture_output=True, text=True,
                              timeout=60, user=65534, group=65534, extra_groups=[], env={"PATH": "/usr/bin:/bin"})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if "user namespace" in done.stderr or "uid map" in done.stderr:
        pytest.skip(f"unprivileged user namespaces are disabled here: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "65534 65534", "processes", "FileNotFoundError: [Errno 2] No such file or directory: '/etc/shadow'"
    ]
