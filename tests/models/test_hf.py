import time

import pytest
import torch

from rlx.models.hf import HubUnreachableError, build_hf, hub_reachable
from rlx.models.tiny import build_tiny


def test_offline_hub_id_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(HubUnreachableError) as err:
        build_hf(path="Qwen/Qwen2.5-0.5B-Instruct")
    assert time.perf_counter() - start < 15
    message = str(err.value)
    assert "HF_HUB_OFFLINE" in message
    assert "hf download Qwen/Qwen2.5-0.5B-Instruct --local-dir /data/models/Qwen2.5-0.5B-Instruct" in message
    assert "model.path=/data/models/Qwen2.5-0.5B-Instruct" in message


def test_unreachable_hub_without_the_offline_flag(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(var, "0")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    assert not hub_reachable(timeout_s=1.0)
    with pytest.raises(HubUnreachableError, match="no network connection to the hub"):
        build_hf(path="Qwen/Qwen2.5-0.5B-Instruct")


def test_missing_local_folder():
    with pytest.raises(FileNotFoundError, match="model.path='/nonexistent/model'"):
        build_hf(path="/nonexistent/model")


def test_local_folder_loads(tmp_path):
    build_tiny(cache_dir=str(tmp_path), seed=5)
    folder = next(tmp_path.glob("tiny-*"))
    expected = build_tiny(cache_dir=str(tmp_path), seed=5)
    loaded = build_hf(path=str(folder), trainable=False)
    assert loaded.name == str(folder)
    assert not loaded.model.training
    assert loaded.tokenizer.padding_side == "left" and loaded.tokenizer.chat_template
    assert torch.equal(
        loaded.model.get_input_embeddings().weight, expected.model.get_input_embeddings().weight
    )
    text = "What is 3 plus 4?"
    assert loaded.tokenizer(text).input_ids == expected.tokenizer(text).input_ids
