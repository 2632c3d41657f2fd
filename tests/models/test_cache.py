import json

import pytest

from rlx.models.cache import COMPLETE_MARKER, cached_folder, default_cache_dir, settings_key


def write_file(folder):
    (folder / "weights.bin").write_text("w")


def test_builds_once_then_reuses(tmp_path):
    calls = []

    def build(folder):
        calls.append(folder)
        write_file(folder)

    first = cached_folder(tmp_path, "thing", build, {"a": 1})
    second = cached_folder(tmp_path, "thing", build, {"a": 1})
    assert first == second == tmp_path / "thing"
    assert len(calls) == 1 and calls[0] != first  # built elsewhere, then renamed into place
    assert (first / "weights.bin").read_text() == "w"
    assert json.loads((first / COMPLETE_MARKER).read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["thing"]  # no temp dirs left


def test_losing_a_race_uses_the_winners_folder(tmp_path):
    def build_while_another_process_finishes(folder):
        write_file(folder)
        winner = tmp_path / "thing"  # the other process renames its folder in first
        winner.mkdir()
        (winner / "weights.bin").write_text("winner")
        (winner / COMPLETE_MARKER).write_text("{}")

    folder = cached_folder(tmp_path, "thing", build_while_another_process_finishes)
    assert (folder / "weights.bin").read_text() == "winner"
    assert [p.name for p in tmp_path.iterdir()] == ["thing"]


def test_a_failed_build_leaves_nothing(tmp_path):
    def broken(folder):
        write_file(folder)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        cached_folder(tmp_path, "thing", broken)
    assert list(tmp_path.iterdir()) == []


def test_an_incomplete_folder_is_reported(tmp_path):
    (tmp_path / "thing").mkdir()
    (tmp_path / "thing" / "junk").write_text("x")
    with pytest.raises(OSError, match="not a complete rlx cache folder"):
        cached_folder(tmp_path, "thing", write_file)


def test_keys_and_default_dir(monkeypatch, tmp_path):
    assert settings_key({"a": 1, "b": 2}) == settings_key({"b": 2, "a": 1})
    assert settings_key({"a": 1}) != settings_key({"a": 2})
    assert len(settings_key({})) == 12
    monkeypatch.setenv("RLX_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("RLX_CACHE")
    assert str(default_cache_dir()).endswith(".cache/rlx") and "~" not in str(default_cache_dir())
