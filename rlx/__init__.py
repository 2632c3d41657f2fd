"""rlx: config-driven RL post-training of LLMs and LLM agents."""

__version__ = "0.1.0"
