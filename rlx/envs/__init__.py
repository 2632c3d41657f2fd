"""Environments: where tasks come from and how a policy's answers are scored.

`rlx.envs.base` holds the shared contract (`Task`, `Score`, `SingleTurnEnv`); each
environment lives in its own subpackage (`rlx.envs.math`, ...).
"""
