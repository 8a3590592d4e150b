"""A SOURCE that is neither a folder nor a reachable hub id fails at once, saying both."""

from __future__ import annotations

import pytest

from bag_of_songs.cli import main
from bag_of_songs.data import DataSourceError
from bag_of_songs.data.sources import hub


def _unreachable(**kwargs):
    return hub.HubStatus(False, hub.HUB_ENDPOINT, "cannot resolve huggingface.co")


def _no_load(*args, **kwargs):
    raise AssertionError("datasets must not be asked when the hub cannot be reached")


def test_a_bare_name_offline_says_both_at_once(monkeypatch, tmp_path):
    import datasets

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "probe_hub", _unreachable)
    monkeypatch.setattr(datasets, "load_dataset", _no_load)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataSourceError) as exc:
        hub.load_hf_dataset("emotify-dev")
    msg = str(exc.value)
    assert "no folder 'emotify-dev' here" in msg and "could not be reached" in msg
    assert "cannot resolve huggingface.co" in msg and "HF_DATASETS_OFFLINE=1" in msg


def test_the_command_line_says_it_in_one_line(monkeypatch, tmp_path, capsys):
    import datasets

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "probe_hub", _unreachable)
    monkeypatch.setattr(datasets, "load_dataset", _no_load)
    monkeypatch.chdir(tmp_path)
    assert main(["prepare", "emotify-dev", "--out", str(tmp_path / "x")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err and "Retrying" not in err
    assert err.strip().splitlines()[-1].startswith("error: there is no folder 'emotify-dev'")
    assert not (tmp_path / "x").exists()


def test_with_offline_variables_the_local_cache_is_still_tried(monkeypatch, tmp_path):
    import datasets

    calls = []

    def cached(path, **kwargs):
        calls.append(path)
        raise FileNotFoundError("not in the cache")

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(hub, "probe_hub", _no_load)
    monkeypatch.setattr(datasets, "load_dataset", cached)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataSourceError, match="could not load the Hugging Face dataset"):
        hub.load_hf_dataset("owner/name")
    assert calls == ["owner/name"]
