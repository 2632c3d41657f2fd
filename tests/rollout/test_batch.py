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


def test_sampler_logprobs_sit_on_the_response_columns():
    from rlx.rollout.batch import pack_sampler_logprobs

    generations = [
        Generation(prompt_ids=[5, 6, 7], response_ids=[8, 9, 2], finished=True, logprobs=[-0.5, -1.0, -0.25]),
        Generation(prompt_ids=[11], response_ids=[12, 13, 14, 15], finished=False,
                   logprobs=[-0.1, -0.2, -0.3, -0.4]),
    ]
    _, _, action_mask = pack_sequences(generations, PAD)
    sampler = pack_sampler_logprobs(generations, action_mask.shape[1])
    assert sampler.dtype == torch.float32
    torch.testing.assert_close(sampler, torch.tensor([[0.0, 0.0, 0.0, -0.5, -1.0, -0.25],
                                                      [0.0, -0.1, -0.2, -0.3, -0.4, 0.0]]))
    assert (sampler[~action_mask] == 0).all() and (sampler[action_mask] != 0).all()


def test_sampler_logprobs_none_stays_none_and_lengths_must_match():
    from rlx.rollout.batch import pack_sampler_logprobs

    with_lp = Generation([1], [2, 3], True, logprobs=[-1.0, -2.0])
    without = Generation([1], [2, 3], True)
    assert pack_sampler_logprobs([without, without], 3) is None
    assert pack_sampler_logprobs([with_lp, without], 3) is None
    with pytest.raises(ValueError, match="2 response tokens"):
        pack_sampler_logprobs([Generation([1], [2, 3], True, logprobs=[-1.0])], 3)
