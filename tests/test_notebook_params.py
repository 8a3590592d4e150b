"""bag_of_songs.notebook (the notebooks' parameters, default source and banners) and the hub
probe of bag_of_songs.data.sources.hub. No test touches the network: the probe is replaced, or its socket
call is."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from bag_of_songs import notebook as nb
from bag_of_songs.data import DataSourceError, PrepareReport
from bag_of_songs.data.sources import hub
from bag_of_songs.data.sources.hub import HubStatus, probe_hub

UNREACHABLE = HubStatus(False, "https://huggingface.co", "cannot resolve huggingface.co")
REACHABLE = HubStatus(True, "https://huggingface.co")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for var in [v for v in os.environ if v.startswith("BAG_OF_SONGS_")
                or v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_ENDPOINT")
                or v.lower() in ("https_proxy", "http_proxy", "all_proxy", "no_proxy")]:
        monkeypatch.delenv(var)


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return root


def _prepared(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    record = {"splits": {s: {"source": source, "seed": 0} for s in ("train", "test")}}
    (folder / "prepare.json").write_text(json.dumps(record))
    return folder


# ---------------------------------------------------------------------------------------------
# Variables


def test_env_parses_the_type_of_the_default(monkeypatch):
    assert nb.env("BAG_OF_SONGS_EPOCHS", 30) == 30
    monkeypatch.setenv("BAG_OF_SONGS_EPOCHS", " 5 ")
    assert nb.env("BAG_OF_SONGS_EPOCHS", 30) == 5
    monkeypatch.setenv("BAG_OF_SONGS_SEGMENT", "1.5")
    assert nb.env("BAG_OF_SONGS_SEGMENT", 3.0) == 1.5
    for text, value in (("1", True), ("yes", True), ("0", False), ("False", False)):
        monkeypatch.setenv("BAG_OF_SONGS_SAVE_FIGURES", text)
        assert nb.env("BAG_OF_SONGS_SAVE_FIGURES", False) is value
    monkeypatch.setenv("BAG_OF_SONGS_MANIFEST", "")
    assert nb.env("BAG_OF_SONGS_MANIFEST", None) is None
    monkeypatch.setenv("BAG_OF_SONGS_EPOCHS", "many")
    with pytest.raises(ValueError, match="BAG_OF_SONGS_EPOCHS='many': expected a whole number"):
        nb.env("BAG_OF_SONGS_EPOCHS", 30)
    monkeypatch.setenv("BAG_OF_SONGS_SAVE_FIGURES", "maybe")
    with pytest.raises(ValueError, match="BAG_OF_SONGS_SAVE_FIGURES"):
        nb.env("BAG_OF_SONGS_SAVE_FIGURES", False)
    with pytest.raises(ValueError, match="start with BAG_OF_SONGS_"):
        nb.env("EPOCHS", 30)


# ---------------------------------------------------------------------------------------------
# Relative paths: from the project root when the kernel runs in the project's notebooks/


def test_a_relative_path_resolves_against_the_project_root_from_its_notebooks_folder(tmp_path):
    root = _project(tmp_path)
    assert nb.base_dir(root / "notebooks") == root.absolute()
    assert nb.resolve_path("runs/demo", cwd=root / "notebooks") == root.absolute() / "runs/demo"


def test_a_relative_path_resolves_against_the_working_directory_elsewhere(tmp_path):
    root = _project(tmp_path)
    elsewhere = tmp_path / "notebooks"  # named notebooks, but no project around it
    elsewhere.mkdir()
    assert nb.resolve_path("runs/demo", cwd=elsewhere) == elsewhere.absolute() / "runs/demo"
    assert nb.resolve_path("runs/demo", cwd=root) == root.absolute() / "runs/demo"
    assert nb.resolve_path(tmp_path / "abs", cwd=root / "notebooks") == tmp_path / "abs"


def test_data_dir_reads_the_variable_and_resolves_it(tmp_path, monkeypatch):
    root = _project(tmp_path)
    monkeypatch.setenv("BAG_OF_SONGS_DATA_DIR", "runs/demo")
    monkeypatch.setenv("BAG_OF_SONGS_IMG_DIR", "figs")
    assert nb.data_dir(cwd=root / "notebooks") == root.absolute() / "runs" / "demo"
    assert nb.img_dir(cwd=root / "notebooks") == root.absolute() / "figs"
    monkeypatch.chdir(root / "notebooks")  # the kernel's working directory
    assert nb.data_dir() == root.absolute() / "runs" / "demo"
    assert nb.env_path("BAG_OF_SONGS_MANIFEST") is None


def test_data_dir_default_is_absolute_and_named_ccmusic():
    path = nb.data_dir()
    assert path.is_absolute() and path.name == "ccmusic"
    assert nb.img_dir().parent == path.parent


# ---------------------------------------------------------------------------------------------
# The default source


def test_auto_uses_the_demo_with_one_paragraph_when_the_hub_is_out_of_reach(tmp_path):
    choice = nb.resolve_source(probe=lambda: UNREACHABLE, data_dir=tmp_path / "data")
    assert choice.requested == "auto" and choice.source == "demo" and choice.prepare
    assert "\n" not in choice.message and "cannot resolve huggingface.co" in choice.message
    for name in ("BAG_OF_SONGS_SOURCE", "BAG_OF_SONGS_DATASET_PATH", "save_to_disk",
                 "synthetic"):
        assert name in choice.message


def test_auto_is_the_default_and_ccmusic_when_the_hub_answers():
    choice = nb.resolve_source(probe=lambda: REACHABLE)
    assert (choice.requested, choice.source, choice.fallback) == ("auto", "ccmusic", True)


def test_auto_takes_ccmusic_from_a_local_copy_without_probing(tmp_path):
    def probe():
        raise AssertionError("no probe with a local copy")

    choice = nb.resolve_source("auto", dataset_path=tmp_path, probe=probe)
    assert choice.source == "ccmusic"


def test_auto_offline_keeps_a_real_corpus_already_prepared(tmp_path):
    data = _prepared(tmp_path / "data", "ccmusic")
    choice = nb.resolve_source("auto", data_dir=data, probe=lambda: UNREACHABLE)
    assert choice.source == "ccmusic" and not choice.prepare
    assert "neither prepared again nor replaced" in choice.message
    # an earlier demo preparation is simply prepared again (resumed)
    demo = _prepared(tmp_path / "demo", "demo")
    assert nb.resolve_source("auto", data_dir=demo, probe=lambda: UNREACHABLE).source == "demo"


def test_an_explicit_source_is_used_as_given_and_a_relative_folder_resolved(tmp_path,
                                                                             monkeypatch):
    def probe():
        raise AssertionError("an explicit source is never probed")

    monkeypatch.setenv("BAG_OF_SONGS_SOURCE", "demo")
    assert nb.resolve_source(probe=probe).source == "demo"
    root = _project(tmp_path)
    (root / "music" / "rock").mkdir(parents=True)
    choice = nb.resolve_source("music", probe=probe, cwd=root / "notebooks")
    assert choice.source == str(root.absolute() / "music") and not choice.fallback
    assert nb.resolve_source("owner/name", probe=probe).source == "owner/name"


def test_prepare_source_falls_back_to_the_demo_when_ccmusic_fails_to_load(tmp_path,
                                                                         monkeypatch):
    calls, said = [], []

    def fake_prepare(source, out, **kwargs):
        calls.append((source, sorted(kwargs)))
        if source == "ccmusic":
            raise DataSourceError("CCMusic could not be loaded from any of the 4 known "
                                  "revisions with its audio:\n  revision ...")
        return PrepareReport(out_dir=Path(out), written={"train": 3})

    monkeypatch.setattr(nb, "prepare", fake_prepare)
    choice = nb.resolve_source(probe=lambda: REACHABLE)
    choice, report = nb.prepare_source(choice, tmp_path / "data", log=said.append,
                                       revision=None, dataset_path=None, seed=0)
    assert choice.source == "demo" and report.written == {"train": 3}
    assert calls == [("ccmusic", ["dataset_path", "revision", "seed"]), ("demo", ["seed"])]
    assert len(said) == 1 and "CCMusic could not be loaded from any" in said[0]
    assert "BAG_OF_SONGS_SOURCE" in said[0]
    # a source chosen explicitly stops with its error, as before
    with pytest.raises(DataSourceError, match="known revisions"):
        nb.prepare_source(nb.resolve_source("ccmusic"), tmp_path / "data")


def test_prepare_source_keeps_a_real_corpus_without_preparing(tmp_path, monkeypatch):
    data = _prepared(tmp_path / "data", "/music")

    def fake_prepare(*args, **kwargs):
        raise AssertionError("nothing to prepare")

    monkeypatch.setattr(nb, "prepare", fake_prepare)
    choice = nb.resolve_source(data_dir=data, probe=lambda: UNREACHABLE)
    choice, report = nb.prepare_source(choice, data)
    assert choice.source == "/music" and "kept the corpus" in report.summary()


# ---------------------------------------------------------------------------------------------
# Banners and defaults of notebooks 2-5


def test_banner_names_the_folder_and_flags_synthetic_data(tmp_path):
    demo = _prepared(tmp_path / "demo", "demo")
    text = nb.banner(demo)
    assert text.startswith(f"data folder: {demo.absolute()} (prepared from demo)")
    assert "SYNTHETIC DATA" in text and "BAG_OF_SONGS_SOURCE" in text
    assert nb.is_demo(demo)
    real = _prepared(tmp_path / "real", "/music/folder")
    assert nb.banner(real) == f"data folder: {real.absolute()} (prepared from /music/folder)"
    assert not nb.is_demo(real)
    with pytest.raises(DataSourceError, match="run notebook 1"):
        nb.banner(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "prepare.json").write_text("{not json")
    assert nb.prepared_sources(tmp_path / "bad") == {}


def test_epochs_are_short_on_the_demo_and_the_study_value_otherwise(tmp_path, monkeypatch):
    demo, real = _prepared(tmp_path / "demo", "demo"), _prepared(tmp_path / "real", "x")
    assert nb.epochs(demo) == nb.DEMO_EPOCHS < nb.STUDY_EPOCHS == nb.epochs(real) == 30
    monkeypatch.setenv("BAG_OF_SONGS_EPOCHS", "30")
    assert nb.epochs(demo) == 30
    monkeypatch.setenv("BAG_OF_SONGS_EPOCHS", "0")
    with pytest.raises(ValueError, match="positive"):
        nb.epochs(demo)


def test_tied_best_and_describe_best_name_every_tie_in_order():
    assert nb.tied_best({"CNN": 0.8, "MLP": 0.9, "SVC": 0.9}) == ["MLP", "SVC"]
    assert nb.tied_best({"a": float("nan")}) == []
    assert nb.describe_best({"CNN": 0.8, "MLP": 0.9}) == "MLP (macro F1 0.90)"
    assert (nb.describe_best({"CNN": 1.0, "MLP": 1.0, "SVC": 1.0})
            == "a tie between CNN, MLP and SVC (all of them) (macro F1 1.00)")
    assert (nb.describe_best({"CNN": 1.0, "MLP": 1.0, "SVC": 0.5}, metric="accuracy")
            == "a tie between CNN and MLP (accuracy 1.00)")
    assert nb.describe_best({}) == "none (no scores)"


# ---------------------------------------------------------------------------------------------
# The hub probe


def test_probe_honours_the_offline_variables(monkeypatch):
    def connect(*args, **kwargs):
        raise AssertionError("offline: no connection attempted")

    monkeypatch.setattr(socket, "create_connection", connect)
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(var, "1")
        status = probe_hub()
        assert not status and status.reason == f"{var}=1 is set"
        monkeypatch.delenv(var)


def test_probe_connects_to_hf_endpoint_once(monkeypatch):
    seen = []

    class Conn:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def connect(address, timeout):
        seen.append((address, timeout))
        return Conn()

    monkeypatch.setattr(socket, "create_connection", connect)
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.example:8080/")
    status = probe_hub(timeout=2.0)
    assert status and status.endpoint == "http://mirror.example:8080"
    assert seen == [(("mirror.example", 8080), 2.0)]
    monkeypatch.delenv("HF_ENDPOINT")
    seen.clear()
    assert probe_hub() and seen[0][0] == ("huggingface.co", 443)


def test_probe_reports_a_failure_and_gives_up_at_its_timeout(monkeypatch):
    def refuse(address, timeout):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    status = probe_hub()
    assert not status and "no connection to huggingface.co:443" in status.reason

    def hang(address, timeout):  # a resolver that never answers
        time.sleep(5)
        raise OSError("late")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.monotonic()
    status = probe_hub(timeout=0.3)
    assert time.monotonic() - start < 2
    assert not status and status.reason == "no connection to huggingface.co:443 within 0.3 s"


def test_probe_goes_through_the_https_proxy(monkeypatch):
    seen = []

    def connect(address, timeout):
        seen.append(address)
        raise OSError("down")

    monkeypatch.setattr(socket, "create_connection", connect)
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    status = probe_hub()
    assert seen == [("proxy.example", 3128)] and "the proxy proxy.example:3128" in status.reason
    assert hub.HUB_ENDPOINT == "https://huggingface.co"


def test_describe_best_per_level_names_every_tie_of_a_comparison_table():
    import pandas as pd

    results = pd.DataFrame({"level": ["fst", "fst", "fst", "thr", "thr"],
                            "model": ["mlp", "cnn", "svc", "mlp", "cnn"],
                            "derived_from": ["", "", "thr", "", ""],
                            "f1_macro": [1.0, 1.0, 1.0, 0.5, 0.75]})
    texts = nb.describe_best_per_level(results, names={"mlp": "MLP", "cnn": "CNN"})
    assert texts == {"fst": "a tie between MLP, CNN and svc derived from thr (all of them) "
                            "(macro F1 1.00)",
                     "thr": "CNN (macro F1 0.75)"}


def test_source_choice_describe_says_what_was_asked():
    choice = nb.resolve_source(probe=lambda: UNREACHABLE)
    text = choice.describe()
    assert text.startswith("source: demo (BAG_OF_SONGS_SOURCE: auto)\n\nCCMusic cannot be loaded")
    assert nb.SourceChoice("demo", "demo").describe() == "source: demo"
