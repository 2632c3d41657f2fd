import torch

from rlx.models.tiny import build_tiny
from rlx.rollout.base import Generation
from rlx.rollout.batch import pack_sequences
from rlx.rollout.logprobs import forward_logprobs
from rlx.sft.loop import action_token_loss


def test_the_loss_is_the_response_nll_and_skips_the_prompt_in_the_lm_head(tmp_path):
    model = build_tiny(cache_dir=str(tmp_path), seed=2).model
    rows = [Generation([5, 6, 7, 8, 9, 10, 11], [12, 13, 2], finished=True),
            Generation([5, 9], [14, 15, 16, 2], finished=True)]
    input_ids, attention_mask, action_mask = pack_sequences(rows, 0, "cpu")
    full = forward_logprobs(model, input_ids, attention_mask).logprobs  # every position scored
    expected = -(full * action_mask).sum() / 10
    expected.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    scored = []
    hook = model.get_output_embeddings().register_forward_hook(lambda m, i, o: scored.append(o.shape[0]))
    try:
        loss, tokens = action_token_loss(model, rows, 0, torch.device("cpu"), normalizer=10)
        loss.backward()
    finally:
        hook.remove()
    assert tokens == 7
    assert scored[0] == 7  # the response tokens only, not the 7 + 1 prompt targets
    torch.testing.assert_close(loss, expected, atol=1e-6, rtol=1e-6)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], atol=1e-6, rtol=1e-5)


def test_each_evaluation_first_syncs_the_engine_to_the_trained_weights(monkeypatch):
    """An engine with its own weight copy (vLLM) must not evaluate the model from before SFT."""
    from types import SimpleNamespace

    import rlx.sft.loop as loop

    events = []
    model = torch.nn.Linear(2, 2)
    engine = SimpleNamespace(sync_weights=lambda m: events.append(("sync", m)) or 0.0)
    monkeypatch.setattr(loop, "evaluate", lambda collect, tasks, samples, seed, on_batch: events.append(("eval", seed)) or {})
    run = SimpleNamespace(engine=engine, model=model, autocast=torch.no_grad, collect=None, eval_tasks=[],
                          run_dir=None, tokenizer=None,
                          settings=SimpleNamespace(eval_samples=1, eval_transcripts=0))
    loop.run_evaluation(run, seed=7, step=3)
    assert events == [("sync", model), ("eval", 7)]
