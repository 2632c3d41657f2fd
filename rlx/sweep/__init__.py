"""Sweeps: a grid or an Optuna search over launch.py overrides, one run directory per point."""
