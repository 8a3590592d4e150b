"""Segment tables in the models, honest model selection and label hierarchies.

Known answers: a clip's probabilities are the mean of its segments' probabilities; no clip (and
no artist) is ever on both sides of a fold; coarse probabilities are sums of their children's,
so the levels of a prediction always agree; seeded selection repeats exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bag_of_songs.models import (
    CV_MAX_CLIPS,
    TABULAR_KINDS,
    ModelError,
    TabularDataset,
    coarse_parents,
    concat_datasets,
    derive_hierarchy,
    derive_proba,
    evaluate,
    grouped_folds,
    load_model,
    predict_clips,
    save_model,
    select_model,
)

FINE = {"sym": "Classic", "solo": "Classic", "rock": "Non_classic", "dance": "Non_classic"}


def segment_table(rng, *, n_clips=8, n_segments=5, sep=3.0, noise=1.0, artists=2):
    """A segment table: ``n_clips`` clips per fine class, ``n_segments`` rows each.

    Each clip has its own offset (segments of a clip resemble each other more than clips of a
    class do), and clips are spread over ``artists`` artists per class.
    """
    rows = []
    for k, (fine, coarse) in enumerate(FINE.items()):
        for c in range(n_clips):
            offset = rng.normal(0, noise, size=3)
            for s in range(n_segments):
                x = offset + rng.normal(0, noise / 2, size=3)
                x[0] += sep * k
                x[1] += sep * (k % 2)
                rows.append({"audio_file": f"{fine}/{c}.wav", "fst_level_label": coarse,
                             "label": fine, "segment": s, "artist": f"{fine}-a{c % artists}",
                             "f0": x[0], "f1": x[1], "f2": x[2]})
    return pd.DataFrame(rows)


def test_segments_of_a_clip_are_one_clip(rng):
    ds = TabularDataset(segment_table(rng), label_column="label")
    assert ds.is_segmented and ds.n_clips == 32 and len(ds) == 160
    assert ds.feature_columns == ["f0", "f1", "f2"]  # segment and artist are not features
    whole = TabularDataset(segment_table(rng).drop(columns="segment"), label_column="label")
    assert not whole.is_segmented and whole.n_clips == len(whole)


def test_mixed_labels_within_a_clip_are_refused(rng):
    df = segment_table(rng)
    df.loc[0, "label"] = "rock"
    with pytest.raises(ModelError, match="different labels"):
        TabularDataset(df, label_column="label")


@pytest.mark.parametrize("kind", ["svc", "rf", "logreg", "mlp"])
def test_clip_probability_is_the_mean_of_its_segments(rng, kind):
    df = segment_table(rng)
    ds = TabularDataset(df, label_column="label")
    model = select_model(kind, ds, selection="split", seed=0, n_jobs=1)
    clips, proba, y = predict_clips(model, ds)
    rows = model.predict_proba(ds.X)
    for i, clip in enumerate(clips):
        np.testing.assert_allclose(proba[i], rows[ds.clips == clip].mean(axis=0), atol=1e-12)
        assert y[i] == ds.y[ds.clips == clip][0]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    m = evaluate(model, ds)
    assert m["n"] == 32 and m["n_segments"] == 160
    assert sum(map(sum, m["confusion_matrix"])) == 32


def test_vote_counts_segment_winners(rng):
    ds = TabularDataset(segment_table(rng, sep=1.0, noise=2.0), label_column="label")
    model = select_model("logreg", ds, selection="split", seed=0)
    clips, votes, _ = predict_clips(model, ds, aggregate="vote")
    rows = model.predict_proba(ds.X)
    for i, clip in enumerate(clips):
        winners = rows[ds.clips == clip].argmax(axis=1)
        share = np.bincount(winners, minlength=4) / len(winners)
        np.testing.assert_allclose(votes[i], share, atol=1e-5)
    with pytest.raises(ModelError, match="aggregate"):
        predict_clips(model, ds, aggregate="median")


@pytest.mark.parametrize("segmented", [True, False])
@pytest.mark.parametrize("use_groups", [False, True])
def test_no_clip_or_artist_straddles_folds(rng, use_groups, segmented):
    df = segment_table(rng, n_clips=10, artists=5)
    if not segmented:  # one row per clip: groups are still found by audio_file
        df = df[df["segment"] == 0].drop(columns="segment").reset_index(drop=True)
    ds = TabularDataset(df, label_column="label")
    groups = dict(zip(df["audio_file"], df["artist"], strict=False)) if use_groups else None
    folds = grouped_folds(ds, n_splits=5, groups=groups, seed=3)
    assert len(folds) == 5
    seen = np.zeros(len(ds), dtype=int)
    for tr, te in folds:
        seen[te] += 1
        assert not set(ds.clips[tr]) & set(ds.clips[te])
        if use_groups:
            assert not set(df["artist"].iloc[tr]) & set(df["artist"].iloc[te])
        # every class is held out in every fold (stratified)
        assert set(ds.y[te]) == set(range(4))
    assert np.all(seen == 1)


def test_small_classes_and_too_few_groups(rng):
    df = segment_table(rng, n_clips=3, artists=1)
    ds = TabularDataset(df, label_column="label")
    groups = dict(zip(df["audio_file"], df["artist"], strict=False))
    folds = grouped_folds(ds, groups=groups)  # one artist per class: each class held out once
    assert len(folds) == 4
    for tr, te in folds:
        assert not set(df["artist"].iloc[tr]) & set(df["artist"].iloc[te])
    one = {c: "everyone" for c in ds.clips}
    with pytest.raises(ModelError, match="fewer than two groups"):
        grouped_folds(ds, groups=one)


@pytest.mark.parametrize("kind", TABULAR_KINDS)
def test_cross_validated_selection(rng, kind):
    df = segment_table(rng, n_clips=10, artists=5)
    train = TabularDataset(df[df["audio_file"].str.endswith(("0.wav", "1.wav", "2.wav", "3.wav",
                                                             "4.wav", "5.wav", "6.wav",
                                                             "7.wav"))], label_column="label")
    val = train.derive(df[df["audio_file"].str.endswith(("8.wav", "9.wav"))])
    groups = dict(zip(df["audio_file"], df["artist"], strict=False))
    grid = [{"max_features": m, "min_samples_leaf": 1} for m in ("sqrt", 0.5)] \
        if kind == "rf" else None  # a smaller grid keeps the test fast
    lines = []
    a = select_model(kind, train, val, groups=groups, grid=grid, seed=1, n_jobs=1,
                     log=lines.append)
    assert train.n_clips + val.n_clips < CV_MAX_CLIPS  # so "auto" cross-validates
    assert "CV over train + validation (40 clips), grouped by artist" in a.info["selection"]
    assert lines
    # the final model is fitted on train + validation, with their own scaling
    full = concat_datasets(train, val)
    np.testing.assert_allclose(a.scaler.mean_, full.scaler.mean_)
    assert evaluate(a, df)["accuracy"] >= 0.9
    b = select_model(kind, train, val, groups=groups, grid=grid, seed=1, n_jobs=1)
    np.testing.assert_array_equal(a.predict_proba(full.X), b.predict_proba(full.X))
    assert a.info["params"] == b.info["params"]
    split = select_model(kind, train, val, selection="split", seed=1, n_jobs=1)
    assert split.info["selection"] == "validation split"


def test_hierarchy_from_labels(rng):
    df = segment_table(rng)
    assert derive_hierarchy(df, "label", "fst_level_label") == FINE
    assert derive_hierarchy(df, "fst_level_label", "label") is None  # not a coarser level
    broken = df.copy()
    broken.loc[broken["label"] == "rock", "fst_level_label"] = ["Classic", "Non_classic"] * 20
    assert derive_hierarchy(broken, "label", "fst_level_label") is None  # does not nest
    assert coarse_parents(df, "label") == {"fst_level_label": FINE}


def test_derive_proba_sums_children():
    classes = ["dance", "rock", "solo", "sym"]
    parents = {c: FINE[c] for c in classes}
    proba = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.3, 0.1, 0.1]])
    coarse, p = derive_proba(proba, classes, parents)
    assert coarse == ["Classic", "Non_classic"]
    np.testing.assert_allclose(p, [[0.7, 0.3], [0.2, 0.8]])
    with pytest.raises(ModelError, match="no parent"):
        derive_proba(proba, classes, {"dance": "Non_classic"})


def test_derived_coarse_level_evaluation_and_saving(rng, tmp_path):
    df = segment_table(rng)
    ds = TabularDataset(df, label_column="label")
    model = select_model("svc", ds, selection="split", seed=0)
    model.hierarchy = coarse_parents(df, "label")
    model.settings = {"sr": 22050, "n_fft": 2048, "hop_length": 512, "n_mfcc": 13,
                      "stats": ["mean"], "feature_set": "seed", "tuning": 0.0, "segment": 3.0,
                      "segment_hop": 3.0}
    fine = evaluate(model, df)
    coarse = evaluate(model, df, level="fst_level_label")
    assert coarse["classes"] == ["Classic", "Non_classic"] and coarse["n"] == fine["n"]
    # a clip's coarse class is the parent of its most probable fine class (top-down); the
    # sum rule (the parent of the most probable group of fine classes) is still there
    clips, proba, _ = predict_clips(model, ds)
    parents = model.hierarchy["fst_level_label"]
    truth = df.groupby("audio_file", sort=False)["fst_level_label"].first().loc[clips]
    top_down = np.array([parents[model.classes[i]] for i in proba.argmax(1)])
    assert coarse["accuracy"] == pytest.approx(np.mean(top_down == truth))
    names, p = derive_proba(proba, model.classes, parents)
    summed = evaluate(model, df, level="fst_level_label", derived_rule="sum")
    assert summed["accuracy"] == pytest.approx(np.mean(np.array(names)[p.argmax(1)] == truth))
    with pytest.raises(ModelError, match="does not determine"):
        evaluate(model, df, level="artist")
    loaded = load_model(save_model(model, tmp_path / "m"))
    assert loaded.hierarchy == model.hierarchy
    assert loaded.settings["segment"] == 3.0
    assert evaluate(loaded, df, level="fst_level_label") == coarse


def test_decided_levels_always_agree(rng):
    from bag_of_songs.models import decide_levels

    classes = ["dance", "rock", "solo", "sym"]
    hierarchy = {"fst_level_label": {c: FINE[c] for c in classes},
                 "coarse_pair": {"dance": "X", "rock": "X", "solo": "Y", "sym": "Y"}}
    for _ in range(200):
        p = rng.dirichlet(np.ones(4))
        d = decide_levels(p, classes, hierarchy, level="label")
        assert hierarchy["fst_level_label"][d["label"]] == d["fst_level_label"]
        assert hierarchy["coarse_pair"][d["label"]] == d["coarse_pair"]
        assert d["label"] == classes[int(p.argmax())]
    # the fine argmax (solo) decides, even where its parent's summed probability is lower
    d = decide_levels(np.array([0.3, 0.31, 0.39, 0.0]), classes, hierarchy, level="label")
    assert d == {"fst_level_label": "Classic", "coarse_pair": "Y", "label": "solo"}


@pytest.fixture(scope="module")
def small_real(emotify_dir, tmp_path_factory):
    """12 real clips (3 per genre) copied as a genre folder, prepared into train/test."""
    import shutil

    from bag_of_songs.data import prepare

    root = tmp_path_factory.mktemp("small-real")
    src = root / "music"
    for genre in ("classical", "electronic", "pop", "rock"):
        (src / genre).mkdir(parents=True)
        for f in sorted((emotify_dir / genre).glob("*.mp3"))[:3]:
            shutil.copy(f, src / genre / f.name)
    data = root / "data"
    prepare(src, data, splits="train=2,test=1", n_jobs=2, progress=False, log=lambda m: None)
    return src, data


@pytest.mark.slow
def test_segment_and_cnn_models_predict_a_new_mp3_through_the_cli(small_real, tmp_path, capsys):
    """A segment model and a CNN, trained and saved through the CLI, classify an mp3 exactly as
    they classified its prepared clip (the float WAV holds the decoded clip exactly)."""
    import json

    from bag_of_songs.cli import main
    from bag_of_songs.models import read_features

    src, data = small_real
    assert main(["features", str(data), "--feature-set", "extended", "--segment", "3",
                 "--n-jobs", "2", "--quiet"]) == 0
    test = read_features(data / "test")
    assert "segment" in test.columns and test["audio_file"].nunique() * 10 == len(test)
    for kind, extra in (("svc", []), ("cnn", ["--epochs", "2", "--crops-per-clip", "1"])):
        out = tmp_path / kind
        assert main(["train", str(data), "--model", kind, "--label-column",
                     "fst_level_label", "--out", str(out), *extra]) == 0
        model = load_model(out)
        clips, proba, _ = predict_clips(model, test)
        ann = pd.read_csv(data / "test" / "annotations.csv")
        mp3 = src / ann.loc[ann["audio_file"] == clips[0], "source"].iloc[0]
        capsys.readouterr()
        assert main(["predict", str(out), str(mp3), "--json"]) == 0
        rec = json.loads(capsys.readouterr().out)
        got = [rec["probabilities"][c] for c in model.classes]
        np.testing.assert_allclose(got, proba[0], atol=1e-5)
        # per clip, not per segment
        assert evaluate(model, data / "test")["n"] == test["audio_file"].nunique()


def test_mlp_selection_reports_a_cross_validated_score(rng):
    """issue 16, item 10: the MLP's CV selection scores the chosen epochs, as the others do."""
    ds = TabularDataset(segment_table(rng, n_clips=4, n_segments=2), label_column="label")
    model = select_model("mlp", ds, selection="cv", seed=0, n_jobs=1)
    assert "CV over train" in model.info["selection"]
    assert 0.0 <= model.info["cv_f1_macro"] <= 1.0
    assert model.info["params"]["epochs"] >= 1
