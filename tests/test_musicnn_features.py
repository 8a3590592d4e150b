"""musicnn embeddings as a feature set (``feature_set="musicnn"``, ``"seed+musicnn"``, ...).

- Names, feature-set parsing and the strict settings check, without the network.
- The segment alignment rule (:func:`segment_patches`) on known layouts.
- A missing checkpoint: a clear error before any worker starts, from the API and the CLI.
- Real clips (4 genres x 2 from ``../shared/data/emotify-dev``, prepared into train and
  validation) through the real network: table columns, ``features.json``, rows equal to the
  clip's patch embeddings (whole-clip row = their mean; 3 s segment ``i`` = patch ``i``), stale
  tables when the checkpoint, model or layer changes, and ``predict_file`` on an mp3 with a
  model trained on the table.

Tests that need the checkpoints skip, naming the pip command, when the ``musicnn`` wheel is not
installed (with ``CI=true`` they fail instead); those on real clips skip when ``../shared`` is
absent.
"""

from __future__ import annotations

import importlib.util
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import IN_CI

from bag_of_songs import features as F
from bag_of_songs import musicnn as mn
from bag_of_songs.cli import build_parser
from bag_of_songs.cli import main as cli_main
from bag_of_songs.data import list_splits, load_audio, read_annotations
from bag_of_songs.embeddings.musicnn import weights as musicnn_weights
from bag_of_songs.features import EmbeddingError, FeatureError, StaleFeaturesError

PIP = "pip install --no-deps musicnn==0.1.0"
MSD = [f"mean_msd_penultimate_{i}" for i in range(200)]
N_SEED = 32


def quiet(msg: str) -> None:
    pass


@pytest.fixture(scope="module")
def checkpoint():
    try:
        return mn.musicnn_checkpoint_dir("MSD_musicnn")
    except mn.MusicnnError as exc:
        if IN_CI:
            pytest.fail(f"{exc} (CI=true requires the checkpoints)")
        pytest.skip(str(exc))


def _musicnn_settings(**changes) -> dict:
    ms = {"sr": 16000, "n_fft": 512, "hop_length": 256, "n_mels": 96, "n_frames": 187,
          "log_compression": "log10(10000 * mel + 1)", "model": "MSD_musicnn",
          "layer": "penultimate", "n_dims": 200, "checkpoint_sha256": "ab" * 32}
    return {**ms, **changes}


# ---------------------------------------------------------------------------------------------
# Without the network


def test_feature_sets_and_their_column_names():
    assert F.split_feature_set("seed") == ("seed", None)
    assert F.split_feature_set("musicnn") == (None, "musicnn")
    assert F.split_feature_set("extended+musicnn") == ("extended", "musicnn")
    assert F.split_feature_set(["musicnn", "seed"]) == ("seed", "musicnn")
    for bad in ("seed+extended", "musicnn+musicnn", "vggish", "", [], ["seed", 3], 7):
        with pytest.raises(FeatureError, match="feature_set"):
            F.split_feature_set(bad)
    seed = F.feature_names()
    assert len(seed) == N_SEED
    assert F.feature_names(feature_set="musicnn") == MSD
    assert F.feature_names(feature_set="seed+musicnn") == seed + MSD
    assert F.feature_names(feature_set=["musicnn", "seed"]) == seed + MSD
    both = F.feature_names(feature_set="extended+musicnn", stats=("mean", "std"))
    extended = F.feature_names(feature_set="extended", stats=("mean", "std"))
    assert both == extended + MSD + [c.replace("mean_", "std_", 1) for c in MSD]
    assert F.feature_names(feature_set="musicnn", musicnn_model="MTT_musicnn",
                           musicnn_layer="taggram") == [f"mean_mtt_taggram_{i}"
                                                        for i in range(50)]
    assert len(F.feature_names(feature_set="musicnn", musicnn_layer="max_pool")) == 753
    with pytest.raises(FeatureError, match="musicnn_layer"):
        F.feature_names(feature_set="musicnn", musicnn_layer="logits")
    with pytest.raises(FeatureError, match="musicnn_model"):
        F.feature_names(feature_set="musicnn", musicnn_model="MSD_vgg")
    with pytest.raises(FeatureError, match="no musicnn embedding"):
        F.feature_names(feature_set="seed", musicnn_layer="taggram")
    with pytest.raises(FeatureError, match="twice"):
        F.feature_names(feature_set="musicnn", stats=("mean", "mean"))


def test_the_cli_offers_what_the_package_accepts():
    sub = build_parser()._subparsers._group_actions[0].choices
    for command in ("features", "run"):
        actions = {a.dest: a for a in sub[command]._actions}
        assert tuple(actions["feature_set"].choices) == F.TABLE_FEATURE_SETS
        assert tuple(actions["musicnn_model"].choices) == mn.MODELS
        assert tuple(actions["musicnn_layer"].choices) == F.MUSICNN_LAYERS
    assert set(F.MUSICNN_LAYERS) <= set(mn.LAYERS)


def test_a_seed_table_has_no_musicnn_settings():
    """The features.json of a seed or extended table is what it was before embeddings."""
    old = ["sr", "n_fft", "hop_length", "n_mfcc", "stats", "feature_set", "tuning", "segment",
           "segment_hop"]
    assert list(F.feature_settings()) == old
    assert list(F.feature_settings(feature_set="extended", segment=3.0)) == old
    assert F.check_settings(F.feature_settings()) == F.feature_settings()


def test_segment_patches_known_answers():
    """Which patches make up each segment (the alignment rule of segment tables)."""
    def patches(n_frames, n_patches, **kw):
        bounds = F.segment_frames(n_frames, **kw)
        return [p.tolist() for p in F.segment_patches(bounds, n_patches=n_patches)]

    # 30 s: 1292 frames at 22,050 / 512, 10 musicnn patches; segment i is patch i.
    assert patches(1292, 10, segment=3.0) == [[i] for i in range(10)]
    # 20 minutes: still one patch per segment, the same index (the drift is 3.5 ms a segment).
    n_frames = 1 + 1200 * 22050 // 512
    n_patches = (1 + 1200 * 16000 // 256) // 187
    got = patches(n_frames, n_patches, segment=3.0)
    assert got == [[i] for i in range(len(got))] and len(got) == 400
    # 6 s segments pool the two patches inside; 3 s segments every 1.5 s share patches.
    assert patches(1292, 10, segment=6.0) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert patches(1292, 10, segment=3.0, segment_hop=1.5)[:5] == [[0], [1], [1], [2], [2]]
    # 1 s segments (0.998 s): patch 0 (centre 1.488 s) lies in segment 1; segments 0 and 2
    # get the nearest patch, 0 (centres 0.49 and 2.48 s); segment 3 (centre 3.48 s) patch 1.
    assert patches(1292, 10, segment=1.0)[:5] == [[0], [0], [0], [1], [1]]
    # A clip under 3 s (repeat-padded by musicnn to one patch): patch 0.
    assert patches(50, 1, segment=3.0) == [[0]]
    with pytest.raises(FeatureError, match="n_patches"):
        F.segment_patches(F.segment_frames(1292, segment=3.0), n_patches=0)


def test_check_settings_names_the_bad_key():
    good = {"feature_set": "seed+musicnn", "musicnn_model": "MSD_musicnn",
            "musicnn_layer": "penultimate", "musicnn_settings": _musicnn_settings()}
    assert F.check_settings(good) == good
    bad = [
        ({**good, "musicnn_model": "MSD_vgg"}, "settings.musicnn_model"),
        ({**good, "musicnn_layer": "logits"}, "settings.musicnn_layer"),
        ({**good, "musicnn_settings": None}, "settings.musicnn_settings is missing"),
        ({k: v for k, v in good.items() if k != "musicnn_layer"}, "settings.musicnn_layer"),
        ({**good, "musicnn_settings": {"model": "MSD_musicnn"}}, "settings.musicnn_settings"),
        ({**good, "musicnn_settings": _musicnn_settings(layer="taggram")},
         "settings.musicnn_settings.layer"),
        ({**good, "musicnn_settings": _musicnn_settings(n_dims=50)},
         "settings.musicnn_settings.n_dims"),
        ({**good, "musicnn_settings": _musicnn_settings(checkpoint_sha256="xyz")},
         "settings.musicnn_settings.checkpoint_sha256"),
        ({**good, "musicnn_settings": _musicnn_settings(sr="16000")},
         "settings.musicnn_settings.sr"),
        ({**good, "feature_set": "seed"}, "settings.musicnn_model is set but"),
        ({"feature_set": "musicnn"}, "settings.musicnn_model is missing"),
        ({"feature_set": ["seed", "musicnn"]}, "settings.feature_set"),
        ({"hop_length": 0}, "settings.hop_length"),
        ({"stats": ["mean", "mean"]}, "settings.stats"),
        ({"segment": 0.01}, "settings.segment"),
        ({"segment": 1e308}, "settings.segment"),
        ({"tuning": True}, "settings.tuning"),
        ({"evil": 1}, "unknown key"),
        ([], "settings must be a mapping"),
    ]
    for settings, match in bad:
        with pytest.raises(FeatureError, match=match):
            F.check_settings(settings)


def _small_folder(demo_dir, tmp_path, n=3):
    """A data folder with one split of ``n`` demo clips (linked), without tables."""
    split = list_splits(demo_dir)[0]
    out = tmp_path / "data"
    (out / split / "audios").mkdir(parents=True)
    ann = read_annotations(demo_dir / split).iloc[:n]
    for f in ann["audio_file"]:
        shutil.copy2(demo_dir / f, out / f)
    ann.to_csv(out / split / "annotations.csv", index=False)
    return out, split


def test_a_missing_checkpoint_is_reported_before_any_work(demo_dir, tmp_path, monkeypatch,
                                                          capsys):
    data, split = _small_folder(demo_dir, tmp_path)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "musicnn" else real_find_spec(name, *a))

    def no_workers(*args, **kwargs):
        raise AssertionError("workers started although the checkpoint is missing")

    monkeypatch.setattr("bag_of_songs.parallel.map_parallel", no_workers)
    for feature_set in ("musicnn", "seed+musicnn"):
        with pytest.raises(EmbeddingError, match=PIP.replace("+", r"\+")):
            F.build_feature_tables(data, feature_set=feature_set, n_jobs=2, progress=False,
                                   log=quiet)
    assert not (data / split / "features.csv").exists()
    capsys.readouterr()
    assert cli_main(["features", str(data), "--feature-set", "seed+musicnn", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and PIP in err and "Traceback" not in err
    # The seed features do not need the checkpoint.
    monkeypatch.undo()
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "musicnn" else real_find_spec(name, *a))
    F.build_feature_tables(data, n_jobs=1, progress=False, log=quiet)
    assert F.check_feature_table(data / split)["feature_set"] == "seed"


def test_musicnn_options_need_a_musicnn_feature_set(demo_dir, tmp_path, capsys):
    data, _ = _small_folder(demo_dir, tmp_path, n=1)
    assert cli_main(["features", str(data), "--musicnn-layer", "taggram", "--quiet"]) == 2
    assert "need a musicnn feature set" in capsys.readouterr().err
    with pytest.raises(FeatureError, match="no musicnn embedding"):
        F.build_feature_tables(data, musicnn_model="MTT_musicnn", progress=False)


def test_table_workers_run_torch_on_one_thread():
    from bag_of_songs.parallel import map_parallel

    def threads(_):
        import torch

        with F._one_torch_thread():
            inside = torch.get_num_threads()
        return inside, torch.get_num_threads()

    assert list(map_parallel(threads, range(2), n_jobs=2, progress=False)) == [(1, 1)] * 2
    import torch

    before = torch.get_num_threads()
    assert threads(0) == (1, before)  # this process gets its own count back


# ---------------------------------------------------------------------------------------------
# Real clips through the real network


@pytest.fixture(scope="module")
def real_data(emotify_dir, checkpoint, tmp_path_factory):
    """8 real clips (2 per genre) prepared into train and validation (one per genre each),
    with seed+musicnn tables built by the CLI in 2 worker processes."""
    from bag_of_songs.data import prepare

    root = tmp_path_factory.mktemp("musicnn")
    src = root / "src"
    for genre in ("classical", "electronic", "pop", "rock"):
        (src / genre).mkdir(parents=True)
        for f in sorted((emotify_dir / genre).glob("*.mp3"))[:2]:
            shutil.copy2(f, src / genre / f.name)
    data = root / "data"
    prepare(src, data, splits="train=0.5,validation=0.5", n_jobs=2, progress=False, log=quiet)
    assert cli_main(["features", str(data), "--feature-set", "seed+musicnn", "--n-jobs", "2",
                     "--quiet"]) == 0
    return data


def _copy_folder(data, dst):
    shutil.copytree(data, dst)
    return dst


def test_musicnn_table_columns_settings_and_rows(real_data):
    metas = F.check_feature_tables(real_data)
    seed = F.feature_names()
    for split, meta in metas.items():
        table = pd.read_csv(real_data / split / "features.csv")
        assert list(table.columns) == ["audio_file", "fst_level_label", "label", *seed, *MSD]
        assert len(table) == 4 and not table.isna().any().any()
        assert meta["feature_set"] == "seed+musicnn"
        assert (meta["musicnn_model"], meta["musicnn_layer"]) == ("MSD_musicnn", "penultimate")
        assert meta["musicnn_settings"] == mn.musicnn_settings("MSD_musicnn", "penultimate")
        assert meta["feature_columns"] == seed + MSD
    # A row: the clip's study features, then the mean of its 10 patch embeddings (computed in
    # a worker process on one thread, here on this process's threads: float32 rounding).
    row = pd.read_csv(real_data / "train" / "features.csv").iloc[0]
    y = load_audio(real_data / row["audio_file"])
    patches = mn.musicnn_features(y, sr=22050)
    assert patches.shape == (10, 200)
    np.testing.assert_allclose(row[MSD].to_numpy(float), patches.mean(axis=0), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(row[seed].to_numpy(float),
                               list(F.extract_features(y).values()), rtol=1e-6)
    assert np.abs(row[MSD].to_numpy(float)).max() > 0.5  # a real embedding, not zeros


def test_segment_rows_are_the_clips_patches(real_data, tmp_path):
    data = _copy_folder(real_data, tmp_path / "data")
    whole = pd.read_csv(data / "train" / "features.csv")
    table = F.build_feature_table(data / "train", feature_set="seed+musicnn", segment=3.0,
                                  stats=("mean", "std"), n_jobs=1, progress=False, log=quiet)
    std = [c.replace("mean_", "std_", 1) for c in MSD]
    seed = F.feature_names(stats=("mean", "std"))
    assert list(table.columns) == ["audio_file", "fst_level_label", "label", "segment", *seed,
                                   *MSD, *std]
    meta = F.check_feature_table(data / "train")
    assert meta["n_rows"] == 40 and meta["segment"] == 3.0
    clip = table["audio_file"].iloc[0]
    rows = table[table["audio_file"] == clip]
    y = load_audio(data / clip)
    patches = mn.musicnn_features(y, sr=22050).astype(np.float64)
    # Segment i is patch i (one patch: std 0); each row also holds the segment's study features.
    np.testing.assert_allclose(rows[MSD].to_numpy(), patches, rtol=1e-6, atol=1e-6)
    assert np.all(rows[std].to_numpy() == 0.0)
    want = F.extract_features(y, stats=("mean", "std"), segment=3.0)
    pd.testing.assert_frame_equal(rows[want.columns].reset_index(drop=True), want, rtol=1e-6)
    # The whole-clip row is the mean of the segment rows' embeddings (of the patches).
    np.testing.assert_allclose(rows[MSD].to_numpy().mean(axis=0),
                               whole.loc[whole["audio_file"] == clip, MSD].to_numpy()[0],
                               rtol=1e-5, atol=1e-5)
    # Alignment: the embedding of each segment's own samples (frames 129 i .. 129 i + 128, a
    # slice of 2.9955 s holding one patch) is nearest that segment's row; segment 0 starts
    # where the clip does, so there it is the same patch.
    E = rows[MSD].to_numpy()
    for i in range(10):
        own = mn.musicnn_features(y[129 * 512 * i:129 * 512 * (i + 1)], sr=22050)
        assert own.shape == (1, 200)
        assert int(np.argmin(np.linalg.norm(E - own, axis=1))) == i
    np.testing.assert_allclose(mn.musicnn_features(y[:129 * 512], sr=22050)[0], E[0],
                               rtol=1e-4, atol=1e-4)


def test_tables_of_other_weights_model_or_layer_are_stale(real_data, tmp_path, monkeypatch):
    data = _copy_folder(real_data, tmp_path / "data")
    F.check_feature_tables(data)
    # Other weights installed than those the table was built with.
    monkeypatch.setattr(musicnn_weights, "_checkpoint_sha256", lambda folder: "0" * 64)
    with pytest.raises(StaleFeaturesError, match=r"'train'.*other musicnn weights.*re-run"):
        F.check_feature_table(data / "train")
    monkeypatch.undo()
    meta_path = data / "validation" / "features.json"
    meta = json.loads(meta_path.read_text())
    # A validation table recorded with another layer (or model) is refused beside train's.
    for key, value in (("musicnn_layer", "taggram"), ("musicnn_model", "MTT_musicnn")):
        other = {**meta, key: value}
        other["musicnn_settings"] = mn.musicnn_settings(other["musicnn_model"],
                                                        other["musicnn_layer"])
        meta_path.write_text(json.dumps(other))
        with pytest.raises(StaleFeaturesError, match=f"{key} is '{value}' in 'validation'"):
            F.check_feature_tables(data)
    # Garbled musicnn settings.
    meta_path.write_text(json.dumps({**meta, "musicnn_settings": {
        **meta["musicnn_settings"], "n_dims": 7}}))
    with pytest.raises(StaleFeaturesError, match=r"garbles.*settings.musicnn_settings.n_dims"):
        F.check_feature_table(data / "validation")
    # Without the checkpoint installed a table can still be used, but splits built with other
    # weights are still refused together.
    meta_path.write_text(json.dumps({**meta, "musicnn_settings": {
        **meta["musicnn_settings"], "checkpoint_sha256": "1" * 64}}))
    with pytest.raises(StaleFeaturesError, match="other musicnn weights"):
        F.check_feature_table(data / "validation")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "musicnn" else real_find_spec(name, *a))
    assert F.check_feature_table(data / "validation")["musicnn_layer"] == "penultimate"
    with pytest.raises(StaleFeaturesError,
                       match=r"musicnn_settings differ: 'validation' was built with other"):
        F.check_feature_tables(data)


@pytest.mark.slow
def test_predict_file_embeds_a_new_mp3_as_the_table_did(real_data, emotify_dir, tmp_path,
                                                        monkeypatch):
    from bag_of_songs.models import (
        ModelError,
        featurize_file,
        load_model,
        predict_file,
        save_model,
        train_on_folder,
    )

    model, _ = train_on_folder(real_data, kind="svc", label_column="label", selection="split",
                               n_jobs=1)
    assert model.settings["feature_set"] == "seed+musicnn"
    assert model.settings["musicnn_settings"] == mn.musicnn_settings()
    path = save_model(model, tmp_path / "svc")
    loaded = load_model(path)
    assert loaded.settings == model.settings
    # The source mp3 of a training clip featurises as its table row did (mp3 at 44.1 kHz
    # stereo, decoded, mixed and resampled as prepare did).
    ann = read_annotations(real_data / "train")
    table = pd.read_csv(real_data / "train" / "features.csv")
    row = table.iloc[0]
    source = ann.loc[ann["audio_file"] == row["audio_file"], "source"].iloc[0]
    x = featurize_file(loaded, emotify_dir / source)
    want = loaded.scaler.transform(row[loaded.feature_columns].to_numpy(float)[None])
    np.testing.assert_allclose(x, want, atol=1e-3)
    # A new classical mp3 (not in the table) is Classic at the derived level.
    new = sorted((emotify_dir / "classical").glob("*.mp3"))[5]
    assert new.name not in set(ann["source"].str.split("/").str[-1])
    result = predict_file(loaded, new, levels="all")
    assert abs(sum(result["label"]["probabilities"].values()) - 1) < 1e-6
    assert result["fst_level_label"]["genre"] == "Classic"
    # Other weights installed than the model was trained with: refused, not a silent change.
    monkeypatch.setattr(musicnn_weights, "_checkpoint_sha256", lambda folder: "0" * 64)
    with pytest.raises(ModelError, match="other musicnn weights"):
        predict_file(loaded, new)
    monkeypatch.undo()
    # model.json's musicnn settings are validated field by field.
    meta = json.loads((path / "model.json").read_text())
    for key, value, field in (("musicnn_layer", "logits", "settings.musicnn_layer"),
                              ("musicnn_settings", {"n_dims": 200}, "settings.musicnn_settings"),
                              ("feature_set", "seed", "settings.musicnn_model")):
        bad = json.loads(json.dumps(meta))
        bad["settings"][key] = value
        (path / "model.json").write_text(json.dumps(bad))
        with pytest.raises(ModelError, match=field):
            load_model(path)
