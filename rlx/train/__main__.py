"""`python -m rlx.train RUN_DIR`: train the run prepared in RUN_DIR (used by launchers)."""

import sys

from rlx.train.recipe import run

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m rlx.train RUN_DIR")
    run(sys.argv[1])
