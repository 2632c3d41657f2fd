"""The first Python code that runs inside the sandbox (passed to `python -c`, never imported there).

It applies the resource limits, drops root to an unprivileged uid when asked, then runs the
program file as `__main__` in the same interpreter (one interpreter start per execution).
RLIMIT_NPROC is set here, inside the sandbox's user namespace, because the kernel counts it per
user namespace (since Linux 5.14): set outside, it would count every process the user owns.
An uncaught exception is printed like Python does, without this launcher's frame, and exits 1.

argv[1] is a JSON object: cpu_seconds, memory_bytes, max_processes, file_bytes, uid (int or
null), path (the program file). Only the standard library is used.
"""

import json
import os
import resource
import sys
import traceback
import types


def main(settings: dict) -> None:
    cpu = settings["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, then SIGKILL a second later
    resource.setrlimit(resource.RLIMIT_AS, (settings["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (settings["file_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (settings["max_processes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if settings["uid"] is not None:  # running as real root: become a nobody-like uid, no capabilities
        uid = settings["uid"]
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    path = settings["path"]
    with open(path, encoding="utf-8") as f:
        source = f.read()
    module = types.ModuleType("__main__")
    module.__file__ = path
    sys.modules["__main__"] = module
    sys.argv = [path]
    try:
        exec(compile(source, path, "exec"), module.__dict__)
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001 - report it the way the interpreter would
        traceback.print_exception(type(err), err, err.__traceback__.tb_next)
        sys.stderr.flush()
        raise SystemExit(1) from None


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
