"""Shared fixtures: real data from ../shared (skipped in a user's clone, required when CI=true),
a seeded generator, and small prepared corpora built once per session."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from bag_of_songs._librosa import load_librosa

# Before any test module imports librosa: the test processes (two with pytest-xdist) fill
# librosa's numba caches one at a time, as the package's own workers do (numba issue 10128).
load_librosa()

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BAG_OF_SONGS_SHARED", ROOT.parent / "shared"))
EMOTIFY = SHARED / "data" / "emotify-dev"
GTZAN = SHARED / "data" / "gtzan-features" / "features_30_sec.csv"
IN_CI = os.environ.get("CI", "").lower() == "true"
#: The kernel spec the notebook tests run (this interpreter; see notebook_env).
KERNEL_NAME = "bag-of-songs-test"


def require(path: Path) -> Path:
    """Return ``path``, or skip (a user's clone without ../shared); in CI its absence fails."""
    if path.exists():
        return path
    msg = f"real test data not found at {path} (it lives in ../shared beside the repository)"
    if IN_CI:
        pytest.fail(msg + " and CI=true requires it")
    pytest.skip(msg)


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


@pytest.fixture(scope="session")
def emotify_dir() -> Path:
    return require(EMOTIFY)


@pytest.fixture(scope="session")
def gtzan_csv() -> Path:
    return require(GTZAN)


@pytest.fixture(scope="session")
def emotify_clips(emotify_dir) -> list[Path]:
    """Two real clips of each genre (8 mp3 files, 44.1 kHz stereo)."""
    clips = []
    for genre in ("classical", "electronic", "pop", "rock"):
        clips.extend(sorted((emotify_dir / genre).glob("*.mp3"))[:2])
    return clips


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """A small demo corpus (4 clips per style), prepared and featurised once per session."""
    from bag_of_songs.data import prepare
    from bag_of_songs.features import build_feature_tables

    out = tmp_path_factory.mktemp("demo") / "data"
    prepare("demo", out, demo_size=5, n_jobs=2, progress=False, log=lambda m: None)
    build_feature_tables(out, n_jobs=2, progress=False, log=lambda m: None)
    return out


@pytest.fixture(scope="session")
def emotify_prepared(emotify_dir, tmp_path_factory) -> Path:
    """All 120 real clips prepared (folder source) and featurised with mean and std."""
    from bag_of_songs.data import prepare
    from bag_of_songs.features import build_feature_tables

    out = tmp_path_factory.mktemp("emotify") / "data"
    prepare(emotify_dir, out, n_jobs=2, progress=False, log=lambda m: None)
    build_feature_tables(out, stats=("mean", "std"), n_jobs=2, progress=False,
                         log=lambda m: None)
    return out


@pytest.fixture(autouse=True)
def _hub_answers(monkeypatch):
    """No test touches the network: loading a hub id first asks ``probe_hub`` whether the hub
    can be reached, so here it "answers" (tests fake ``datasets.load_dataset`` behind it). It is
    replaced in :mod:`bag_of_songs.data.sources.hub`, where ``load_hf_dataset`` looks it up (the
    old module ``bag_of_songs.hub`` only re-exports it). Tests of the unreachable case patch it
    themselves (tests/test_hub.py); tests of the probe itself import the real function
    (tests/test_notebook_params.py)."""
    from bag_of_songs.data.sources import hub

    monkeypatch.setattr(hub, "probe_hub",
                        lambda **kwargs: hub.HubStatus(True, hub.HUB_ENDPOINT))


@pytest.fixture
def notebook_env(tmp_path, monkeypatch):
    """A kernel spec for this interpreter, offline Hugging Face, inline plots, clean knobs."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Bag of Songs (tests)",
        "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for var in [v for v in os.environ if v.startswith("BAG_OF_SONGS_")]:
        monkeypatch.delenv(var)
    workdir = tmp_path / "cwd"  # the kernel's working directory: the notebooks must not need it
    workdir.mkdir()
    return workdir
