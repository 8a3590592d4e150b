"""FeatureExtractor: the feature table's rows as a scikit-learn transformer of clips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import check_estimator

from bag_of_songs.data.audio import load_audio
from bag_of_songs.demo import synthesize_demo_clip
from bag_of_songs.errors import AudioLoadError, FeatureError
from bag_of_songs.features import extract_features, feature_names
from bag_of_songs.features.sklearn import FeatureExtractor

STYLES = ("symphony", "solo", "rock", "dance")

#: The checks of ``check_estimator`` a transformer of signals cannot pass, and why.
EXPECTED_FAILED_CHECKS = {
    "check_n_features_in": "no n_features_in_: a row of X is a signal, its samples are not "
                           "features, and clips may differ in length",
    "check_n_features_in_after_fitting": "same: a signal of another length is a valid clip "
                                         "after fitting",
    "check_transformer_general": "same: it checks that transform refuses another number of "
                                 "columns than fit saw",
    "check_estimators_dtypes": "integer samples are refused (extract_features takes "
                               "floating-point audio), not silently rescaled",
}


def _clips(n_per_style=2, duration=4.0):
    """Short demo clips of the four styles, their labels and a group (the seed) per clip."""
    clips, labels, groups = [], [], []
    for style in STYLES:
        for seed in range(n_per_style):
            clips.append(synthesize_demo_clip(style, seed, duration=duration))
            labels.append(style)
            groups.append(seed)
    return clips, np.array(labels), np.array(groups)


def _rows(clips, **settings):
    names = feature_names(**{k: v for k, v in settings.items()
                             if k in ("n_mfcc", "stats", "feature_set")})
    return np.array([[extract_features(y, **settings)[n] for n in names] for y in clips])


def _write_wavs(tmp_path, clips, sr=22050):
    paths = []
    for i, y in enumerate(clips):
        path = tmp_path / f"clip_{i}.wav"
        sf.write(path, y, sr, subtype="FLOAT")
        paths.append(path)
    return paths


@pytest.mark.parametrize("settings", [
    {},
    {"stats": ("mean", "std"), "n_mfcc": 20},
    {"feature_set": "extended", "stats": ("median", "max"), "tuning": None},
])
def test_transform_is_extract_features_row_bit_for_bit(settings):
    clips = _clips(1)[0][1::2]
    fx = FeatureExtractor(**settings).fit(clips)
    out = fx.transform(clips)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, _rows(clips, **settings))
    names = feature_names(**{k: v for k, v in settings.items() if k != "tuning"})
    assert fx.get_feature_names_out().tolist() == names
    assert fx.n_features_out_ == len(names) == out.shape[1]


def test_transform_of_prepared_clips_equals_their_feature_table(demo_dir):
    table = pd.read_csv(demo_dir / "train" / "features.csv")
    paths = [demo_dir / f for f in table["audio_file"]]
    fx = FeatureExtractor().fit(paths)
    names = fx.get_feature_names_out().tolist()
    assert names[0] == "mean_envelope" and names == [
        c for c in table.columns if c in set(names)]
    np.testing.assert_array_equal(fx.transform(paths), table[names].to_numpy())
    y = load_audio(paths[0])  # a path is decoded exactly as load_audio (prepare) decodes it
    np.testing.assert_array_equal(fx.transform(paths[:1]), _rows([y]))


def test_inputs_a_list_of_paths_an_array_of_paths_a_series_and_a_2d_array(tmp_path):
    clips = _clips(1, duration=2.0)[0][1::2]
    paths = _write_wavs(tmp_path, clips)
    fx = FeatureExtractor().fit(paths)
    # a path is homogenised (padded to 30 s), as prepare does it
    want = _rows([load_audio(p) for p in paths])
    np.testing.assert_array_equal(fx.transform(paths), want)
    np.testing.assert_array_equal(fx.transform([str(p) for p in paths]), want)
    np.testing.assert_array_equal(fx.transform(np.array([str(p) for p in paths])), want)
    np.testing.assert_array_equal(fx.transform(pd.Series([str(p) for p in paths])), want)
    # a 2-D array is one signal per row, used as it is
    np.testing.assert_array_equal(fx.transform(np.stack(clips)), _rows(clips))
    out = fx.set_output(transform="pandas").transform(clips)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == feature_names()


def test_clone_and_get_params_keep_every_setting():
    fx = FeatureExtractor(feature_set="extended", stats=("mean", "std"), n_mfcc=20, n_jobs=2,
                          tuning=None)
    params = fx.get_params()
    assert params == clone(fx).get_params()
    assert params["feature_set"] == "extended" and params["n_jobs"] == 2
    assert set(params) == {"feature_set", "stats", "n_mfcc", "sr", "n_jobs", "musicnn_model",
                           "musicnn_layer", "n_fft", "hop_length", "tuning"}
    defaults = FeatureExtractor().get_params()
    assert defaults["stats"] == ("mean",) and defaults["tuning"] == 0.0
    assert (defaults["sr"], defaults["n_fft"], defaults["hop_length"]) == (22050, 2048, 512)


def test_pipeline_and_grid_search_over_svc_c():
    clips, labels, groups = _clips(3, duration=3.0)
    pipe = make_pipeline(FeatureExtractor(stats=("mean", "std")), StandardScaler(), SVC())
    assert pipe.fit(clips, labels).score(clips, labels) == 1.0
    assert pipe.predict(clips[:2]).tolist() == ["symphony", "symphony"]
    search = GridSearchCV(pipe, {"svc__C": [0.1, 10.0]}, cv=StratifiedGroupKFold(3),
                          error_score="raise")
    search.fit(clips, labels, groups=groups)
    assert search.best_params_["svc__C"] in (0.1, 10.0)
    assert search.predict(clips).shape == (len(clips),)


def test_two_workers_give_the_rows_of_one(tmp_path):
    clips, _, _ = _clips(1, duration=3.0)
    paths = _write_wavs(tmp_path, clips)
    one = FeatureExtractor(n_jobs=1).fit_transform(paths + clips)
    two = FeatureExtractor(n_jobs=2).fit_transform(paths + clips)
    np.testing.assert_array_equal(one, two)
    rows, clip = FeatureExtractor(n_jobs=2).fit(clips).extract_segments(clips, segment=1.0)
    rows1, clip1 = FeatureExtractor().fit(clips).extract_segments(clips, segment=1.0)
    np.testing.assert_array_equal(rows, rows1)
    np.testing.assert_array_equal(clip, clip1)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_an_undecodable_file_raises_naming_it(tmp_path, n_jobs):
    good = _write_wavs(tmp_path, [synthesize_demo_clip("rock", 0, duration=1.0)])[0]
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"\x00not audio" * 100)
    fx = FeatureExtractor(n_jobs=n_jobs).fit([good, bad])
    with pytest.raises(AudioLoadError, match="broken.mp3"):
        fx.transform([good, bad])
    with pytest.raises(AudioLoadError, match="missing.wav: no such file"):
        fx.transform([tmp_path / "missing.wav"])


def test_extract_segments_are_extract_features_segment_rows():
    clips, _, _ = _clips(1, duration=5.0)
    fx = FeatureExtractor(stats=("mean", "std")).fit(clips)
    rows, clip = fx.extract_segments(clips[:2], segment=2.0, segment_hop=1.0)
    want = [extract_features(y, stats=("mean", "std"), segment=2.0, segment_hop=1.0)
            for y in clips[:2]]
    np.testing.assert_array_equal(
        rows, np.concatenate([t[fx.get_feature_names_out()].to_numpy() for t in want]))
    assert clip.tolist() == [0] * len(want[0]) + [1] * len(want[1])
    with pytest.raises(FeatureError, match="segment"):
        fx.extract_segments(clips, segment=-1.0)


@pytest.mark.parametrize(("params", "match"), [
    ({"n_mfcc": 0}, "n_mfcc"),
    ({"stats": ("mode",)}, "mode"),
    ({"feature_set": "chords"}, "chords"),
    ({"sr": 0}, "sr"),
    ({"tuning": 2.0}, "tuning"),
    ({"musicnn_layer": "penultimate"}, "musicnn"),
    ({"n_jobs": 0}, "n_jobs"),
    ({"n_jobs": 1.5}, "n_jobs"),
])
def test_fit_refuses_a_bad_setting(params, match):
    with pytest.raises(FeatureError, match=match):
        FeatureExtractor(**params).fit()


@pytest.mark.parametrize(("X", "match"), [
    ("song.wav", "single path"),
    (np.zeros(22050, dtype=np.float32), r"pass \[y\]"),
    ([np.zeros(100, dtype=np.int16)], "clip 0: .*floating-point"),
    ([np.zeros(100), np.full(100, np.nan)], "clip 1: .*non-finite"),
    ([np.zeros((2, 100))], "clip 0: .*1-D"),
    ([], "no clips"),
    (pd.DataFrame({"a": ["x.wav"], "b": ["y.wav"]}), "one column"),
])
def test_transform_refuses_what_is_not_a_list_of_clips(X, match):
    fx = FeatureExtractor().fit()
    with pytest.raises(FeatureError, match=match):
        fx.transform(X)


def test_transform_before_fit_is_refused():
    with pytest.raises(NotFittedError):
        FeatureExtractor().transform([np.zeros(100)])
    with pytest.raises(NotFittedError):
        FeatureExtractor().get_feature_names_out()


def test_sklearn_check_estimator_as_far_as_a_transformer_of_signals_allows():
    # Each expected failure must really fail (strict): a check that starts to pass is news.
    results = check_estimator(FeatureExtractor(), on_fail=None,
                              expected_failed_checks=EXPECTED_FAILED_CHECKS)
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    xfailed = {r["check_name"] for r in results if r["status"] == "xfail"}
    assert failed == set()
    assert xfailed == set(EXPECTED_FAILED_CHECKS)
    assert sum(r["status"] == "passed" for r in results) >= 35


def test_real_clips_grouped_by_artist_score_above_chance(emotify_dir):
    manifest = pd.read_csv(emotify_dir / "manifest.csv")
    rows = pd.concat([manifest[manifest["genre"] == g].head(4) for g in ("classical", "rock")])
    paths = [emotify_dir / p for p in rows["path"]]
    pipe = make_pipeline(FeatureExtractor(stats=("mean", "std"), n_jobs=2), StandardScaler(),
                         SVC())
    scores = cross_val_score(pipe, paths, rows["genre"].to_numpy(),
                             groups=rows["artist"].to_numpy(), cv=StratifiedGroupKFold(2),
                             error_score="raise")
    assert len(scores) == 2
    assert scores.mean() > 0.5  # chance is 0.5 for two balanced genres
