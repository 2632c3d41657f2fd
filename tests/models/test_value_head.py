import tempfile

import torch

from rlx.models.tiny import build_tiny
from rlx.models.value_head import ValueHead
from rlx.rollout.logprobs import forward_logprobs


def test_starts_at_zero_and_has_the_right_shape():
    head = ValueHead(8)
    values = head(torch.randn(3, 5, 8))
    assert values.shape == (3, 5)
    assert torch.equal(values, torch.zeros(3, 5))


def test_is_linear_in_float32_and_trains():
    head = ValueHead(4)
    with torch.no_grad():
        head.linear.weight.copy_(torch.tensor([[1.0, 2.0, 0.0, -1.0]]))
        head.linear.bias.fill_(0.5)
    hidden = torch.tensor([[[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 2.0]]], dtype=torch.bfloat16)
    values = head(hidden)
    assert values.dtype == torch.float32
    assert torch.equal(values, torch.tensor([[2.5, -1.5]]))
    values.sum().backward()
    assert torch.equal(head.linear.bias.grad, torch.tensor([2.0]))


def test_two_heads_give_two_values_per_token_and_train_independently():
    head = ValueHead(4, heads=2)
    assert head.heads == 2 and torch.equal(head(torch.randn(2, 3, 4)), torch.zeros(2, 3, 2))
    with torch.no_grad():
        head.linear.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0]]))
    values = head(torch.tensor([[[3.0, 1.0, 1.0, 1.0]]]))
    assert torch.equal(values, torch.tensor([[[3.0, 2.0]]]))
    values[..., 1].sum().backward()
    assert torch.equal(head.linear.bias.grad, torch.tensor([0.0, 1.0]))


def test_logprob_pass_aligns_two_head_values_like_one_head_values():
    model = build_tiny(cache_dir=tempfile.mkdtemp()).model
    one, two = ValueHead(model.config.hidden_size), ValueHead(model.config.hidden_size, heads=2)
    with torch.no_grad():
        weight = torch.randn(1, model.config.hidden_size)
        one.linear.weight.copy_(weight)
        two.linear.weight.copy_(torch.cat([weight, -weight]))
    ids = torch.tensor([[5, 6, 7, 8], [5, 6, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    a = forward_logprobs(model, ids, mask, value_head=one).values
    b = forward_logprobs(model, ids, mask, value_head=two).values
    assert b.shape == (2, 4, 2)
    torch.testing.assert_close(b[..., 0], a)
    torch.testing.assert_close(b[..., 1], -a)
    assert torch.equal(b[:, 0], torch.zeros(2, 2)) and torch.equal(b[1, 2:], torch.zeros(2, 2))
