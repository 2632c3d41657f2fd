"""The RL math: advantage estimators, normalisation, policy/value losses, KL and entropy.

Everything here is a pure tensor function (or a frozen dataclass of them) with the shapes in
its docstring. Vocabulary: B sequences, T tokens, `action_mask` (B, T) marks policy tokens,
`group_ids` (B,) ties the rollouts of one task together.
"""
