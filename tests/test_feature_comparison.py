"""Feature settings side by side: extract_feature_table (a table in memory, nothing written) and
compare_feature_sets (compare_models over several settings)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import IN_CI

from bag_of_songs.features import (
    FeatureError,
    build_feature_table,
    extract_feature_table,
    extract_setting_tables,
)
from bag_of_songs.models import ModelError, compare_feature_sets, compare_models, read_features

LEVELS = ["fst_level_label", "thr_level_label"]


def _snapshot(folder):
    return {p.relative_to(folder): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("settings", [{}, {"segment": 3.0, "stats": ("mean", "std")}])
def test_extract_feature_table_is_the_built_table_and_writes_nothing(demo_dir, tmp_path,
                                                                     settings):
    before = _snapshot(demo_dir)
    table = extract_feature_table(demo_dir / "test", n_jobs=1, progress=False, **settings)
    assert _snapshot(demo_dir) == before
    # The same settings built into a copy of the split: the same rows and columns.
    copy = tmp_path / "data"
    shutil.copytree(demo_dir / "test", copy / "test")
    built = build_feature_table(copy / "test", n_jobs=1, progress=False, **settings)
    pd.testing.assert_frame_equal(table.reset_index(drop=True), built.reset_index(drop=True))
    on_disk = read_features(copy / "test")
    np.testing.assert_allclose(on_disk[list(built.columns[-5:])].to_numpy(float),
                               table[list(built.columns[-5:])].to_numpy(float), rtol=1e-9)
    assert table.attrs["settings"]["segment"] == settings.get("segment")
    assert table.attrs["skipped"] == []
    if settings:
        assert (table.groupby("audio_file")["segment"].count() == 10).all()


def test_setting_tables_in_one_pass_equal_each_table_alone(demo_dir):
    """Shared parts (the study's columns, the embedding) computed once give the same tables."""
    settings = [{}, {"segment": 3.0}, {"feature_set": "extended", "segment": 3.0},
                {"stats": ("mean", "std")}]
    try:
        from bag_of_songs.musicnn import MusicnnError, musicnn_checkpoint_dir

        musicnn_checkpoint_dir("MSD_musicnn")
        settings += [{"feature_set": "musicnn"}, {"feature_set": "seed+musicnn"},
                     {"feature_set": "seed+musicnn", "segment": 3.0}]
    except MusicnnError as exc:
        if IN_CI:
            pytest.fail(f"{exc} (CI=true requires the checkpoints)")
    tables = extract_setting_tables(demo_dir / "test", settings, n_jobs=2, progress=False)
    assert len(tables) == len(settings)
    for kwargs, table in zip(settings, tables, strict=True):
        alone = extract_feature_table(demo_dir / "test", n_jobs=1, progress=False, **kwargs)
        pd.testing.assert_frame_equal(table, alone, check_exact=False, rtol=1e-6, atol=1e-6)
        assert table.attrs["settings"] == alone.attrs["settings"]
    with pytest.raises(FeatureError, match="unknown extraction keyword"):
        extract_setting_tables(demo_dir / "test", [{"segmnet": 3.0}])


def test_compare_feature_sets_reproduces_compare_models_and_scores_per_clip(demo_dir):
    before = _snapshot(demo_dir)
    lines = []
    results = compare_feature_sets(demo_dir, {"clip mean": {}, "3 s segments": {"segment": 3.0}},
                                   kinds=("logreg",), levels=LEVELS, n_jobs=1, log=lines.append)
    assert _snapshot(demo_dir) == before  # the folder's tables are left as they were
    assert list(results.columns[:3]) == ["features", "level", "model"]
    assert list(dict.fromkeys(results["features"])) == ["clip mean", "3 s segments"]
    # The study's setting is what demo_dir's tables hold: the same scores as compare_models.
    direct = compare_models(demo_dir, kinds=("logreg",), levels=LEVELS, n_jobs=1)
    clip = results[results["features"] == "clip mean"].drop(columns="features")
    pd.testing.assert_frame_equal(clip.reset_index(drop=True), direct.reset_index(drop=True),
                                  check_like=False)
    # Segment models are scored per clip: as many test clips as the whole-clip models.
    n_test = len(read_features(demo_dir / "test"))
    assert (results["n_test"] == n_test).all()
    # The coarse level derived from the fine model is there for both settings.
    derived = results[results["derived_from"] == "thr_level_label"]
    assert sorted(derived["features"]) == ["3 s segments", "clip mean"]
    assert any("2 feature setting(s) of 3 split(s) extracted" in line for line in lines)
    assert any(line.startswith("3 s segments: [") for line in lines)


def test_compare_feature_sets_refuses_what_it_cannot_compare(demo_dir):
    with pytest.raises(ModelError, match="table models"):
        compare_feature_sets(demo_dir, {"a": {}}, kinds=("cnn",))
    with pytest.raises(ModelError, match="unknown keyword"):
        compare_feature_sets(demo_dir, {"a": {"segmnet": 3}})
    with pytest.raises(ModelError, match="no feature settings"):
        compare_feature_sets(demo_dir, {})
    with pytest.raises(FileNotFoundError, match="not prepared"):
        compare_feature_sets(demo_dir, {"a": {}}, split="holdout")


def test_an_unreadable_clip_is_left_out_of_every_table_and_reported_once(demo_dir, tmp_path):
    split = tmp_path / "data" / "test"
    shutil.copytree(demo_dir / "test", split)
    broken = sorted((split / "audios").glob("*.wav"))[0]
    broken.write_bytes(b"not audio at all")
    lines = []
    tables = extract_setting_tables(split, [{}, {"segment": 3.0}], n_jobs=1, progress=False,
                                    log=lines.append)
    rel = f"test/audios/{broken.name}"
    for table in tables:
        assert rel not in set(table["audio_file"])
        assert [f for f, _ in table.attrs["skipped"]] == [rel]
        assert np.isfinite(table.select_dtypes("number").to_numpy()).all()
    assert len([ln for ln in lines if rel in ln]) == 1
