import pytest
import torch

from rlx.rollout.base import Generation
from rlx.rollout.batch import pack_sequences

PAD = 0


def test_layout_and_masks():
    generations = [
        Generation(prompt_ids=[5, 6, 7], response_ids=[8, 9, 2], finished=True),
        Generation(prompt_ids=[11], response_ids=[12, 13, 14, 15], finished=False),
        Generation(prompt_ids=[21, 22], response_ids=[], finished=False),
    ]
    input_ids, attention_mask, action_mask = pack_sequences(generations, PAD)
    # rows start at column 0; T = the longest prompt + response = 6
    assert input_ids.tolist() == [
        [5, 6, 7, 8, 9, 2],
        [11, 12, 13, 14, 15, 0],
        [21, 22, 0, 0, 0, 0],
    ]
    assert attention_mask.tolist() == [
        [1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 0],
        [1, 1, 0, 0, 0, 0],
    ]
    assert action_mask.tolist() == [
        [False, False, False, True, True, True],  # the eos token is an action
        [False, True, True, True, True, False],
        [False] * 6,
    ]
    assert input_ids.dtype == torch.long and attention_mask.dtype == torch.long
    assert action_mask.dtype == torch.bool


def test_width_is_trimmed_to_the_batch():
    generations = [Generation([1, 2], [3], True), Generation([4], [5, 6], False)]
    input_ids, _, _ = pack_sequences(generations, PAD)
    assert input_ids.shape == (2, 3)


def test_pad_id_and_device():
    generations = [Generation([1], [2, 3], True), Generation([4], [6], True)]
    input_ids, _, action_mask = pack_sequences(generations, 99, device="cpu")
    assert input_ids.tolist() == [[1, 2, 3], [4, 6, 99]]
    assert action_mask.sum().item() == 3


def test_empty_batch_is_an_error():
    with pytest.raises(ValueError):
        pack_sequences([], PAD)
