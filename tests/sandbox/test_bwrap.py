"""The bubblewrap command line, without running it."""

import os

import pytest

from rlx.sandbox.bwrap import (
    MAX_SLOTS,
    PROGRAM_PATH,
    ROOT_UID_BASE,
    bwrap_command,
    python_install,
    read_only_binds,
    root_sandbox_uid,
)


ONE_OPERAND = {"--dir", "--perms", "--size", "--tmpfs", "--proc", "--dev", "--chdir", "--remount-ro", "--cap-add"}


def pairs(args: list[str], flag: str) -> list[tuple[str, ...]]:
    """The operands of each occurrence of `flag` (one for --dir and the like, two for binds)."""
    width = 1 if flag in ONE_OPERAND else 2
    return [tuple(args[i + 1 : i + 1 + width]) for i, a in enumerate(args) if a == flag]


def command(as_root: bool) -> list[str]:
    return bwrap_command("/usr/bin/bwrap", "/opt/py/bin/python3", ["/opt/py"], "LAUNCHER", "{}", 7, 1 << 20, as_root)


def test_unprivileged_uses_every_namespace_and_no_capabilities():
    args = command(as_root=False)
    assert args[:2] == ["/usr/bin/bwrap", "--unshare-all"]
    assert "--cap-add" not in args and "--share-net" not in args
    assert {"--die-with-parent", "--new-session"} <= set(args)


def test_root_unshares_all_but_the_user_namespace_and_keeps_only_setuid_caps():
    args = command(as_root=True)
    assert "--unshare-all" not in args and "--unshare-user" not in args
    assert {"--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts"} <= set(args)
    assert pairs(args, "--cap-add") == [("CAP_SETUID",), ("CAP_SETGID",)]


def test_layout_tmp_program_and_read_only_root():
    args = command(as_root=False)
    tmpfs = args.index("--tmpfs")
    assert args[tmpfs - 4 : tmpfs + 2] == ["--perms", "1777", "--size", str(1 << 20), "--tmpfs", "/tmp"]
    assert pairs(args, "--ro-bind-data") == [("7", PROGRAM_PATH)]
    assert pairs(args, "--remount-ro") == [("/",)] and pairs(args, "--chdir") == [("/tmp",)]
    assert args[args.index("--") + 1 :] == ["/opt/py/bin/python3", "-I", "-B", "-c", "LAUNCHER", "{}"]
    assert "--bind" not in args  # nothing of the host is writable


def test_prefix_under_a_private_directory_gets_reachable_parents(tmp_path):
    prefix = tmp_path / "private" / "py"
    prefix.mkdir(parents=True)
    args = read_only_binds([str(prefix), str(prefix)])
    assert pairs(args, "--ro-bind").count((str(prefix), str(prefix))) == 1
    dirs = [d for (d,) in pairs(args, "--dir")]
    parents = [str(p) for p in reversed(prefix.parents[:-1])]  # "/tmp", "/tmp/pytest-...", ..., ".../private"
    assert dirs[-len(parents):] == parents  # shallow first, each made 0755 before the bind
    private = args.index(str(tmp_path / "private"))
    assert args[private - 3 : private] == ["--perms", "0755", "--dir"]
    assert args[-3:] == ["--ro-bind", str(prefix), str(prefix)]


def test_system_directories_are_bound_or_linked_and_usr_is_never_rebound():
    args = read_only_binds(["/usr"])
    assert ("/usr", "/usr") in pairs(args, "--ro-bind")
    assert len([a for a in args if a == "/usr"]) == 2  # one bind, not repeated for the prefix
    for path in ("/bin", "/lib"):
        if os.path.islink(path):
            assert (os.readlink(path), path) in pairs(args, "--symlink")
    assert ("/etc/ld.so.cache", "/etc/ld.so.cache") in pairs(args, "--ro-bind-try")
    assert all(not a.startswith("/etc/shadow") for a in args)


def test_python_install():
    interpreter, prefixes = python_install("current")
    assert os.path.samefile(interpreter, os.sys.executable)
    assert os.sys.prefix in prefixes
    base_interpreter, base_prefixes = python_install("base")
    expected = getattr(os.sys, "_base_executable", os.sys.executable)
    assert os.path.realpath(base_interpreter) == os.path.realpath(expected)
    assert os.sys.base_prefix in base_prefixes


def test_root_sandbox_uids_are_unique_per_process_and_slot():
    assert root_sandbox_uid(0, pid=1) == ROOT_UID_BASE + MAX_SLOTS
    assert root_sandbox_uid(3, pid=1) == ROOT_UID_BASE + MAX_SLOTS + 3
    assert root_sandbox_uid(0, pid=2) == ROOT_UID_BASE + 2 * MAX_SLOTS
    assert root_sandbox_uid(MAX_SLOTS - 1, pid=4_194_304) < 2**32 - 1  # below (uid_t)-1 for any pid
    with pytest.raises(ValueError):
        root_sandbox_uid(MAX_SLOTS)
