"""`python -m rlx.train RUN_DIR`: train the run prepared in RUN_DIR (used by launchers).

The run's `status.json` says running / done / failed (with the error) for `python -m rlx.status`.
"""

import sys

from rlx.run_status import tracked
from rlx.train.recipe import run

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m rlx.train RUN_DIR")
    with tracked(sys.argv[1]):
        run(sys.argv[1])
