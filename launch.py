#!/usr/bin/env python
"""rlx launcher: compose -> validate -> run directory -> submit (local or SLURM).

    python launch.py                                  # the default run
    python launch.py experiment=smoke                 # a one-minute run on a tiny model
    python launch.py model=tiny advantage=rloo trainer.lr=1e-5
    python launch.py --help | --cfg job
    python launch.py --sweep sweeps/NAME.yaml [key=value ...]   # a sweep (same as python -m rlx.sweep)
"""

import sys

import hydra
from omegaconf import DictConfig

from rlx.launch import launch, precheck_argv


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    launch(cfg)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sweep"]:
        from rlx.sweep.__main__ import main as sweep

        sys.exit(sweep(sys.argv[2:]))
    precheck_argv(sys.argv[1:])
    main()
