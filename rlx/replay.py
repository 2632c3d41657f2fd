"""`python -m rlx.replay RUN_DIR [--resume]`: rerun a run from its directory alone.

Without --resume a new run directory is made next to the old one with the same resolved
config (manifest records `replay_of`); with --resume training continues in RUN_DIR from
its latest checkpoint (the manifest's `resumes` gets an entry, as for `resume=auto`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rlx.launch import launch_prepared, validate_config
from rlx.run_dir import new_run_dir, read_config, read_manifest, record_resume, write_run_files
from rlx.train.checkpoint import list_checkpoints


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rlx.replay", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true", help="continue RUN_DIR itself")
    args = parser.parse_args(argv)
    old = args.run_dir.resolve()
    config, manifest = read_config(old), read_manifest(old)
    validate_config(config)
    if args.resume:
        run_dir = old
        done = list_checkpoints(old)
        record_resume(old, config, overrides=[], details={
            "reason": "rlx.replay --resume", "from_step": int(done[-1].name.split("_")[1]) if done else 0})
    else:
        run_dir = new_run_dir(config["runs_root"], config["experiment_name"])
        write_run_files(run_dir, config, overrides=manifest.get("overrides", []),
                        choices=manifest.get("choices", {}), extra={"replay_of": str(old)})
    launch_prepared(config, run_dir)


if __name__ == "__main__":
    main()
