"""ALFWorld's text engine, loaded on demand: TextWorld's PDDL environment + ALFWorld's demangler.

This is the stack `alfworld.agents.environment.AlfredTWEnv` builds for one game, without its
gym batching (rlx's EnvPool runs the processes): `textworld.envs.PddlEnv` parses the game's PDDL
domain, problem and text grammar (Fast Downward's translator grounds it) and plays it;
`AlfredDemangler` turns ALFRED ids (`Apple_bar__plus_00_dot_10...`) into names ("apple 1").
`alfworld` is an optional dependency: importing this module does not need it, using it does.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

INSTALL_HINT = (
    "ALFWorld needs the optional `alfworld` package: pip install 'rlx[alfworld]' "
    "(or: pip install alfworld==0.4.2; it builds Fast Downward from source, ~80 s, "
    "with a C++ compiler, make and cmake: apt-get install g++ make cmake)."
)


def require_alfworld() -> None:
    """Raise ImportError with the install line when `alfworld` (or textworld) is missing."""
    for module in ("alfworld", "textworld", "fast_downward"):
        if importlib.util.find_spec(module) is None:
            raise ImportError(f"'{module}' is not installed. {INSTALL_HINT}")


@lru_cache(maxsize=1)
def domain_and_grammar() -> tuple[str, str]:
    """ALFWorld's PDDL domain and text grammar as shipped in its wheel (`alfworld/data`)."""
    require_alfworld()
    import alfworld

    data = Path(alfworld.__file__).parent / "data"
    return (data / "alfred.pddl").read_text(), (data / "alfred.twl2").read_text()


def open_game(game_file: str | Path, facts: bool = False) -> Any:
    """A TextWorld environment with `game_file` (a `game.tw-pddl`) loaded, not yet reset.

    The game state it returns lists `admissible_commands` (sorted, with "help") and `won`;
    with `facts`, also the human-readable PDDL facts the handcoded expert reads.
    """
    require_alfworld()
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
    from textworld.envs import PddlEnv

    infos = textworld.EnvInfos(admissible_commands=True, won=True, facts=facts)
    env = AlfredDemangler(PddlEnv(infos), shuffle=False)
    env.load(str(game_file))
    return env
