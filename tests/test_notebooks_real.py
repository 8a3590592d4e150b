"""The notebooks executed top to bottom on the real clips in ../shared/data/emotify-dev (the
demo-corpus run and the helpers are in test_notebooks; a file of its own, so that the two long
runs go to different processes under pytest-xdist)."""

from __future__ import annotations

import pytest
from test_notebooks import (
    NOTEBOOKS,
    check_executed,
    check_tables_untouched,
    outputs,
    run_notebooks,
    text_of,
)

pytestmark = pytest.mark.slow


def test_notebooks_run_on_real_clips(notebook_env, emotify_dir, tmp_path, monkeypatch):
    """Notebooks 1-4 whole on the 120 real clips, artist-grouped, and the opening cells of
    notebook 5 (its level choice). The demo run covers what this run leaves out: notebook 5
    whole (on real clips it embeds every clip with musicnn twice, in sections 2 and 4: most of
    this test's time), hyper-parameters chosen by cross-validation in notebook 3's models and
    the model kinds not named below (each runs on real clips in test_cli and test_cnn)."""
    data_dir, img_dir = tmp_path / "data", tmp_path / "img"
    monkeypatch.setenv("BAG_OF_SONGS_SOURCE", str(emotify_dir))
    monkeypatch.setenv("BAG_OF_SONGS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BAG_OF_SONGS_IMG_DIR", str(img_dir))
    monkeypatch.setenv("BAG_OF_SONGS_N_JOBS", "2")
    monkeypatch.setenv("BAG_OF_SONGS_GROUP_BY", "artist")  # splits and folds keep artists whole
    monkeypatch.setenv("BAG_OF_SONGS_EPOCHS", "2")
    settings = {  # notebook 3's grouped folds are still built and checked (sections 5.1, 5.2)
        "3-models-prediction.ipynb": {"BAG_OF_SONGS_MODELS": "svc",
                                      "BAG_OF_SONGS_FEATURE_SET_MODELS": "svc",
                                      "BAG_OF_SONGS_SELECTION": "split"},
        "4-spectrogram-cnn.ipynb": {"BAG_OF_SONGS_MODELS": "svc,cnn",
                                    "BAG_OF_SONGS_CROPS_PER_CLIP": "2"},
    }

    executed = run_notebooks(notebook_env, monkeypatch, names=[p.name for p in NOTEBOOKS[:4]],
                             settings=settings, opening={NOTEBOOKS[4].name: 2})
    opened = {NOTEBOOKS[4].name: executed.pop(NOTEBOOKS[4].name)}
    assert list(executed) == [path.name for path in NOTEBOOKS[:4]]
    check_executed(executed)
    check_tables_untouched(data_dir)

    nb1 = text_of(executed["1-data-preparation.ipynb"])
    assert "44100 Hz" in nb1 and "22050 Hz" in nb1  # the mp3s are homogenised
    assert "0 input(s) skipped out of 120" in nb1
    nb3 = text_of(executed["3-models-prediction.ipynb"])
    assert "LEVEL = fst_level_label" in nb3  # the default level of a folder with classical
    assert "GROUP_BY = artist: 76 groups over 120 clips" in nb3 and "grouped by artist" in nb3
    assert "LEVEL = fst_level_label" in text_of(executed["4-spectrogram-cnn.ipynb"])
    nb5 = opened["5-pretrained-embeddings.ipynb"]
    assert not outputs(nb5, "error")
    assert "LEVEL = label (4 classes)" in text_of(nb5)  # the finest level, where nb 3-4 use fst
    assert not img_dir.exists()  # SAVE_FIGURES defaults to off
