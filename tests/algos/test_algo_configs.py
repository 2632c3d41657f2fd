"""Every conf/advantage and conf/loss choice instantiates and runs on a small random batch."""

from pathlib import Path

import hydra.utils
import pytest
import torch
from omegaconf import OmegaConf

from rlx.algos.advantages import needs_values
from rlx.algos.step_advantages import needs_steps
from rlx.algos.losses import loss_normalizers
from rlx.algos.objective import Objective
from rlx.config.compose import compose

CONF = Path(__file__).resolve().parents[2] / "conf"
ADVANTAGES = sorted((CONF / "advantage").glob("*.yaml"))
LOSSES = sorted((CONF / "loss").glob("*.yaml"))


def load(path: Path) -> dict:
    """A group choice as the run sees it: composed by Hydra, so a choice's own defaults list
    (e.g. SALT's base estimator, /advantage@base) is applied."""
    node = compose([f"{path.parent.name}={path.stem}"])[path.parent.name]
    return OmegaConf.to_container(node, resolve=True)


def test_the_expected_choices_exist():
    assert {p.stem for p in ADVANTAGES} >= {
        "grpo", "dr_grpo", "lite_ppo", "rloo", "reinforce_pp", "reinforce_pp_baseline", "gae"}
    assert {p.stem for p in LOSSES} >= {"ppo_clip", "clip_higher", "dual_clip", "gspo",
                                        "clip_cov", "kl_cov", "epo"}


@pytest.mark.parametrize("path", ADVANTAGES, ids=lambda p: p.stem)
def test_advantage_config_instantiates_and_runs(path, make_batch):
    estimator = hydra.utils.instantiate(load(path))
    if needs_steps(estimator):
        pytest.skip("step-level estimator: run with steps= in tests/algos/test_step_advantages.py")
    batch = make_batch(6, 7, seed=0)
    values = batch["values"] if needs_values(estimator) else None
    advantages, returns = estimator(batch["rewards"], batch["action_mask"], batch["group_ids"], values)
    off = ~batch["action_mask"]
    assert advantages.shape == returns.shape == (6, 7)
    assert torch.isfinite(advantages).all() and torch.all(advantages[off] == 0) and torch.all(returns[off] == 0)
    assert needs_values(estimator) == (path.stem == "gae")


@pytest.mark.parametrize("path", LOSSES, ids=lambda p: p.stem)
def test_loss_config_instantiates_and_runs(path, make_batch):
    objective = hydra.utils.instantiate(load(path))
    assert isinstance(objective, Objective)
    batch = make_batch(6, 7, seed=1)
    mask = batch["action_mask"]
    logprobs = (-batch["values"].abs()).requires_grad_(True)
    values = batch["rewards"].clone().requires_grad_(True)
    num_tokens, num_seqs = loss_normalizers(mask)
    loss, stats = objective(
        logprobs, logprobs.detach() - 0.05, batch["rewards"], mask,
        ref_logprobs=logprobs.detach() + 0.1, entropy=torch.rand(6, 7, dtype=torch.float64),
        values=values, old_values=values.detach(), returns=batch["rewards"],
        entropy_ref=torch.full((6, 7), 0.5, dtype=torch.float64) if objective.smoothing else None,
        num_tokens=num_tokens, num_seqs=num_seqs,
    )
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert logprobs.grad is not None and values.grad is not None
    assert {"loss/policy", "loss/kl", "loss/entropy", "loss/value", "loss/total", "policy/clipfrac",
            "policy/clipfrac_low", "policy/clipfrac_high", "policy/approx_kl"} <= stats.keys()


def test_named_variants_carry_their_settings():
    def load(group, name):
        return hydra.utils.instantiate(OmegaConf.load(CONF / group / f"{name}.yaml"))

    assert load("advantage", "dr_grpo").keywords["std"] == "none"
    assert load("advantage", "lite_ppo").keywords == {"mean": "group", "std": "batch", "eps": 1e-6}
    assert load("loss", "clip_higher").policy.keywords["clip_high"] == 0.28
    assert load("loss", "dual_clip").policy.keywords["dual_clip"] == 3.0
    assert load("loss", "gspo").policy.keywords["agg"] == "seq_mean_token_mean"


@pytest.mark.parametrize("path", ADVANTAGES + LOSSES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_passes_the_signature_validator(path):
    validate = pytest.importorskip("rlx.config.validate").validate
    validate(load(path))
