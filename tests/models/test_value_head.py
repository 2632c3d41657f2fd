import torch

from rlx.models.value_head import ValueHead


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
