"""Tests of ``bag_of_songs.models``: the dataset, the MLP and its training, the scikit-learn
baselines, evaluation, safe saving, prediction of audio files, and the checks on real data
(the published GTZAN feature table, the Emotify clips)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader

from bag_of_songs.data import AudioLoadError
from bag_of_songs.models import (
    DEFAULT_KINDS,
    DEFAULT_PARAMS,
    MLP,
    TABULAR_KINDS,
    GenreClassifier,
    ModelError,
    TabularDataset,
    compare_models,
    evaluate,
    fit_model,
    fit_random_forest,
    fit_svc,
    load_model,
    predict_file,
    save_model,
    train_mlp,
    train_on_folder,
)

FEATURES = ["f0", "f1", "f2", "f3"]
METRIC_KEYS = {"accuracy", "f1_macro", "f1", "report", "confusion_matrix", "classes", "n",
               "n_segments", "level", "ece", "reliability"}


def make_table(rng, *, classes=("b", "a", "c"), n_per_class=20, sep=6.0, shift=0.0,
               noise=1.0) -> pd.DataFrame:
    """A synthetic feature table: class k is centred at ``sep * k`` on f0 and f1.

    Beside the four features it holds every kind of column that must not be a feature: the
    file name, a numeric ``source`` id, a numeric other label level and GTZAN's ``length``.
    """
    rows = []
    for k, c in enumerate(classes):
        for i in range(n_per_class):
            x = rng.normal(0.0, noise, size=4) + shift
            x[:2] += sep * k
            rows.append({"audio_file": f"{c}_{i}.wav", "label": c,
                         "fst_level_label": "Classic" if k == 0 else "Non_classic",
                         "thr_level_label": 10 + k, "source": 1000 * k + i,
                         "length": 661500 + i, **dict(zip(FEATURES, x, strict=True))})
    return pd.DataFrame(rows)


def split_table(df: pd.DataFrame, seed: int = 0):
    """Stratified 60/20/20 train, validation, test."""
    train, rest = train_test_split(df, test_size=0.4, stratify=df["label"], random_state=seed)
    val, test = train_test_split(rest, test_size=0.5, stratify=rest["label"], random_state=seed)
    return train, val, test


def datasets(df: pd.DataFrame, label_column: str = "label", seed: int = 0):
    train, val, test = split_table(df, seed)
    tr = TabularDataset(train, label_column=label_column, drop_columns=["length"])
    return tr, tr.derive(val), tr.derive(test)


def fit(kind, train_ds, val_ds=None, seed=0):
    if kind == "rf":
        return fit_random_forest(train_ds, val_ds, seed=seed, n_jobs=1)
    return fit_model(kind, train_ds, val_ds, seed=seed)


# ---------------------------------------------------------------------------------------------
# TabularDataset


def test_feature_columns_exclude_label_drops_and_non_features(rng):
    df = make_table(rng)
    ds = TabularDataset(df, drop_columns=["length"])
    # audio_file (text), source and thr_level_label (numeric!) are dropped by name
    assert ds.feature_columns == FEATURES
    assert ds.n_features == 4 and ds.X.shape == (len(df), 4)
    # without drop_columns, a numeric non-feature stays a feature
    assert TabularDataset(df).feature_columns == ["length", *FEATURES]
    # another label level as the label: "label" (a level here) is dropped too
    ds = TabularDataset(df, label_column="fst_level_label", drop_columns=["length"])
    assert ds.feature_columns == FEATURES
    assert ds.classes == ["Classic", "Non_classic"]


def test_scaler_fitted_on_its_own_table(rng):
    df = make_table(rng, shift=5.0, noise=3.0)
    ds = TabularDataset(df, drop_columns=["length"])
    assert isinstance(ds.scaler, StandardScaler)
    assert ds.X.dtype == np.float32
    np.testing.assert_allclose(ds.X.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(ds.X.std(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(ds.scaler.mean_, df[FEATURES].mean().to_numpy(), rtol=1e-10)


def test_derive_only_transforms_with_training_statistics(rng):
    train = make_table(rng)
    other = make_table(rng, shift=3.0, noise=2.0)
    ds = TabularDataset(train, drop_columns=["length"])
    mean, scale = ds.scaler.mean_.copy(), ds.scaler.scale_.copy()
    val = ds.derive(other)
    assert val.scaler is ds.scaler
    np.testing.assert_array_equal(ds.scaler.mean_, mean)  # not refitted
    np.testing.assert_array_equal(ds.scaler.scale_, scale)
    expected = (other[FEATURES].to_numpy() - mean) / scale
    np.testing.assert_allclose(val.X, expected, rtol=1e-5, atol=1e-5)
    assert val.X.mean(axis=0)[2] > 1.0  # the shift of the other table is kept, not scaled away
    assert val.classes == ds.classes and val.feature_columns == ds.feature_columns
    # passing a scaler explicitly is the same thing
    same = TabularDataset(other, scaler=ds.scaler, feature_columns=ds.feature_columns)
    np.testing.assert_array_equal(same.X, val.X)


def test_classes_sorted_by_default_and_mapping(rng):
    df = make_table(rng, classes=("rock", "classical", "pop"))
    ds = TabularDataset(df, drop_columns=["length"])
    assert ds.classes == ["classical", "pop", "rock"]
    labels = df["label"].to_numpy()
    assert [ds.classes[i] for i in ds.y] == list(labels)
    ds = TabularDataset(df, drop_columns=["length"], classes=["rock", "pop", "classical", "jazz"])
    assert ds.classes == ["rock", "pop", "classical", "jazz"]
    assert [ds.classes[i] for i in ds.y] == list(labels)
    assert ds.y.dtype == np.int64


def test_unknown_label_is_named(rng):
    ds = TabularDataset(make_table(rng, classes=("a", "b")), drop_columns=["length"])
    with pytest.raises(ModelError, match="'zydeco'"):
        ds.derive(make_table(rng, classes=("a", "zydeco")))


def test_missing_label_is_an_error(rng):
    df = make_table(rng)
    df.loc[3, "label"] = np.nan
    with pytest.raises(ModelError, match=r"missing label.*row\(s\) \[3\]"):
        TabularDataset(df, drop_columns=["length"])


def test_missing_columns_are_named(rng):
    df = make_table(rng)
    with pytest.raises(ModelError, match="'genre'"):
        TabularDataset(df, label_column="genre")
    ds = TabularDataset(df, drop_columns=["length"])
    with pytest.raises(ModelError, match="f2"):
        ds.derive(df.drop(columns=["f2"]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_named(rng, bad):
    df = make_table(rng)
    df.loc[5, "f3"] = bad
    with pytest.raises(ModelError, match=r"non-finite.*'f3'.*\[5\]"):
        TabularDataset(df, drop_columns=["length"])
    # also in a derived (test) table
    ds = TabularDataset(make_table(rng), drop_columns=["length"])
    with pytest.raises(ModelError, match="f3"):
        ds.derive(df)


def test_csv_path_folder_and_dataframe_agree(rng, tmp_path):
    df = make_table(rng)
    df.to_csv(tmp_path / "features.csv", index=False)
    from_df = TabularDataset(df, drop_columns=["length"])
    from_csv = TabularDataset(tmp_path / "features.csv", drop_columns=["length"])
    from_dir = TabularDataset(str(tmp_path), drop_columns=["length"])
    for ds in (from_csv, from_dir):
        assert ds.feature_columns == from_df.feature_columns
        assert ds.classes == from_df.classes
        np.testing.assert_allclose(ds.X, from_df.X, atol=1e-6)
        np.testing.assert_array_equal(ds.y, from_df.y)
    with pytest.raises(FileNotFoundError):
        TabularDataset(tmp_path / "nothing.csv")


def test_getitem_types_and_dataloader(rng):
    ds = TabularDataset(make_table(rng), drop_columns=["length"])
    x, y = ds[7]
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (4,)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.int64 and y.ndim == 0
    assert int(y) == ds.y[7]
    np.testing.assert_array_equal(x.numpy(), ds.X[7])
    assert len(ds) == 60
    batches = list(DataLoader(ds, batch_size=16, shuffle=False))
    assert [len(b[1]) for b in batches] == [16, 16, 16, 12]
    xb, yb = batches[0]
    assert xb.shape == (16, 4) and xb.dtype == torch.float32 and yb.dtype == torch.int64
    np.testing.assert_array_equal(torch.cat([b[1] for b in batches]).numpy(), ds.y)


# ---------------------------------------------------------------------------------------------
# MLP


def test_mlp_architecture():
    layers = list(MLP(32, 5).net)
    assert [type(m) for m in layers] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    shapes = [(m.in_features, m.out_features) for m in layers if isinstance(m, nn.Linear)]
    assert shapes == [(32, 128), (128, 64), (64, 5)]
    assert MLP(32, 5)(torch.zeros(3, 32)).shape == (3, 5)


@pytest.mark.parametrize("classes", [("a", "b"), ("a", "b", "c", "d")])
def test_train_mlp_outputs_and_loss(rng, classes):
    train_ds, val_ds, _ = datasets(make_table(rng, classes=classes, sep=1.0))
    model, history = train_mlp(train_ds, val_ds, epochs=8, patience=100)
    n_out = 1 if len(classes) == 2 else len(classes)
    assert model.estimator.net[-1].out_features == n_out
    # the history's validation loss is BCEWithLogits (binary) or cross-entropy (more classes)
    with torch.no_grad():
        logits = model.estimator(torch.from_numpy(val_ds.X))
    y = torch.from_numpy(val_ds.y)
    if len(classes) == 2:
        loss = nn.BCEWithLogitsLoss()(logits[:, 0], y.float())
    else:
        loss = nn.CrossEntropyLoss()(logits, y)
    best = history.loc[history["epoch"] == model.info["best_epoch"], "val_loss"].item()
    assert float(loss) == pytest.approx(best, rel=1e-6)
    proba = model.predict_proba(val_ds.X)
    assert proba.shape == (len(val_ds), len(classes))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def overfitting_problem(rng):
    """Few examples, many features, random labels: the validation loss soon rises."""
    n, d = 60, 40
    df = pd.DataFrame(rng.normal(size=(n, d)), columns=[f"x{i}" for i in range(d)])
    df["label"] = rng.choice(["p", "q", "r"], size=n)
    train = TabularDataset(df.iloc[:40])
    return train, train.derive(df.iloc[40:])


@pytest.mark.parametrize("patience", [2, 5])
def test_train_mlp_early_stopping_restores_best_weights(rng, patience):
    train_ds, val_ds = overfitting_problem(rng)
    model, history = train_mlp(train_ds, val_ds, patience=patience, seed=3)
    assert list(history.columns) == ["epoch", "train_loss", "train_accuracy", "val_loss",
                                     "val_accuracy"]
    stopped, best = history.attrs["stopped_epoch"], history.attrs["best_epoch"]
    assert stopped < 50 and stopped == len(history) == model.info["stopped_epoch"]
    assert history["epoch"].tolist() == list(range(1, stopped + 1))
    assert best == int(history["val_loss"].idxmin()) + 1 == model.info["best_epoch"]
    assert stopped - best == patience
    # the returned weights are those of the best epoch
    with torch.no_grad():
        logits = model.estimator(torch.from_numpy(val_ds.X))
    val_loss = float(nn.CrossEntropyLoss()(logits, torch.from_numpy(val_ds.y)))
    assert val_loss == pytest.approx(history["val_loss"].min(), rel=1e-6)
    assert history["val_loss"].iloc[-1] > history["val_loss"].min()
    assert history[["train_loss", "val_loss"]].notna().all().all()
    assert history[["train_accuracy", "val_accuracy"]].apply(lambda c: c.between(0, 1)).all().all()


def test_train_mlp_without_validation_runs_every_epoch(rng):
    train_ds, _ = overfitting_problem(rng)
    model, history = train_mlp(train_ds, epochs=7)
    assert len(history) == 7 and history["val_loss"].isna().all()
    assert model.info["best_epoch"] == model.info["stopped_epoch"] == 7


def test_train_mlp_same_seed_same_result(rng):
    train_ds, val_ds, _ = datasets(make_table(rng, sep=1.0))
    m1, h1 = train_mlp(train_ds, val_ds, epochs=10, seed=7)
    torch.manual_seed(12345)  # the global state must not matter
    m2, h2 = train_mlp(train_ds, val_ds, epochs=10, seed=7)
    m3, h3 = train_mlp(train_ds, val_ds, epochs=10, seed=8)
    s1, s2, s3 = (m.estimator.state_dict() for m in (m1, m2, m3))
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    pd.testing.assert_frame_equal(h1, h2)
    assert not all(torch.equal(s1[k], s3[k]) for k in s1)
    assert not h1["train_loss"].equals(h3["train_loss"])


def test_train_mlp_refuses_incompatible_validation(rng):
    df = make_table(rng)
    train, val, _ = split_table(df)
    train_ds = TabularDataset(train, drop_columns=["length"])
    own_scaler = TabularDataset(val, drop_columns=["length"])  # fitted on validation: a leak
    with pytest.raises(ModelError, match="derive"):
        train_mlp(train_ds, own_scaler)
    with pytest.raises(ModelError, match="derive"):
        fit_svc(train_ds, TabularDataset(val, drop_columns=["length"], scaler=train_ds.scaler,
                                         classes=["a", "b", "c", "d"]))
    single = TabularDataset(df[df["label"] == "a"], drop_columns=["length"])
    with pytest.raises(ModelError, match="two classes"):
        train_mlp(single)


# ---------------------------------------------------------------------------------------------
# Baselines and evaluation


@pytest.mark.parametrize("kind", TABULAR_KINDS)
def test_separable_problem_is_learnt(rng, kind):
    train_ds, val_ds, test_ds = datasets(make_table(rng, n_per_class=30, sep=8.0))
    model = fit(kind, train_ds, val_ds)
    assert isinstance(model, GenreClassifier) and model.kind == kind
    m = evaluate(model, test_ds)
    assert set(m) == METRIC_KEYS
    assert m["accuracy"] >= 0.99 and m["f1_macro"] >= 0.99
    assert m["classes"] == ["a", "b", "c"] and m["n"] == len(test_ds) == 18
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (3, 3) and cm.sum() == m["n"]
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(test_ds.y, minlength=3))
    assert set(m["report"]) >= {"a", "b", "c"}
    assert m["report"]["b"]["support"] == 6
    assert m["f1"] == m["f1_macro"]  # more than two classes: f1 is the macro F1
    json.dumps(m)  # plain Python types only
    proba = model.predict_proba(test_ds.X)
    assert proba.shape == (18, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(model.predict(test_ds.X), proba.argmax(axis=1))


@pytest.mark.parametrize("kind", TABULAR_KINDS)
def test_binary_metrics(rng, kind):
    # Overlapping classes of unequal size, so that the F1 of each class and the macro F1 differ.
    df = pd.concat([make_table(rng, classes=("no", "yes"), n_per_class=40, sep=1.2),
                    make_table(rng, classes=("no",), n_per_class=40, sep=1.2)],
                   ignore_index=True)
    train_ds, val_ds, test_ds = datasets(df)
    model = fit(kind, train_ds, val_ds)
    m = evaluate(model, test_ds)
    assert set(m) == METRIC_KEYS and m["classes"] == ["no", "yes"]
    names = np.array(m["classes"])
    y_true, y_pred = names[test_ds.y], names[model.predict(test_ds.X)]
    assert m["f1"] == pytest.approx(f1_score(y_true, y_pred, pos_label="yes"))
    assert m["f1_macro"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert m["f1"] == pytest.approx(m["report"]["yes"]["f1-score"])
    assert m["f1"] != pytest.approx(m["report"]["no"]["f1-score"])
    assert m["accuracy"] == pytest.approx(np.mean(y_true == y_pred))
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (2, 2) and cm.sum() == m["n"] == len(test_ds)
    assert cm[1, 1] == np.sum((y_true == "yes") & (y_pred == "yes"))


def test_evaluate_accepts_tables_and_uses_the_models_scaler(rng, tmp_path):
    train_ds, val_ds, _ = datasets(make_table(rng, sep=3.0))
    model = fit_svc(train_ds)
    test = make_table(rng, sep=3.0, shift=0.5)
    expected = evaluate(model, train_ds.derive(test))
    test.to_csv(tmp_path / "features.csv", index=False)
    assert evaluate(model, test) == expected
    assert evaluate(model, tmp_path / "features.csv") == expected
    # a dataset that fitted its own scaler on the test table is rescaled with the model's
    assert evaluate(model, TabularDataset(test, drop_columns=["length"])) == expected
    with pytest.raises(ModelError, match="GenreClassifier"):
        evaluate(model.estimator, test)


def test_f1_macro_ignores_classes_absent_from_the_split(rng):
    train_ds, val_ds, test_ds = datasets(make_table(rng, n_per_class=30, sep=8.0))
    model = fit_svc(train_ds, val_ds)
    two = test_ds.frame[test_ds.frame["label"] != "c"]
    m = evaluate(model, two)
    assert m["accuracy"] == 1.0 and m["f1_macro"] == 1.0
    assert np.array(m["confusion_matrix"])[2].sum() == 0  # still a row for "c"


def test_svc_and_forest_choose_on_validation(rng):
    train_ds, val_ds, _ = datasets(make_table(rng, sep=2.0))
    svc = fit_svc(train_ds, val_ds)
    assert svc.info["params"]["C"] in (1.0, 10.0, 100.0)
    assert 0.0 <= svc.info["val_f1_macro"] <= 1.0
    assert fit_svc(train_ds).info["params"] == {"C": 10.0, "gamma": "scale"}
    rf = fit_random_forest(train_ds, val_ds, n_jobs=1)
    assert rf.info["params"]["max_features"] in ("sqrt", 0.33)
    assert rf.estimator.n_estimators == 500
    with pytest.raises(ModelError, match="unknown model kind"):
        fit_model("knn", train_ds)


def test_same_seed_same_baselines(rng):
    train_ds, val_ds, test_ds = datasets(make_table(rng, sep=2.0))
    for kind in ("svc", "rf"):
        p1 = fit(kind, train_ds, val_ds, seed=1).predict_proba(test_ds.X)
        p2 = fit(kind, train_ds, val_ds, seed=1).predict_proba(test_ds.X)
        np.testing.assert_array_equal(p1, p2)


def test_svc_with_tiny_classes_and_a_class_absent_from_train(rng, tmp_path):
    df = make_table(rng, classes=("a", "b", "c"), n_per_class=12, sep=8.0)
    train = pd.concat([df[df["label"] != "c"], df[df["label"] == "c"].iloc[:2]])
    classes = ["a", "ab", "b", "c"]  # "ab" only in some other split (e.g. test)
    # a class with 2 examples: no cross-validated calibration, a softmax of the decision values
    tiny = TabularDataset(train, drop_columns=["length"], classes=classes)
    model = fit_svc(tiny)
    proba = model.predict_proba(tiny.X)
    assert proba.shape == (len(tiny), 4) and np.all(proba[:, 1] == 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    loaded = load_model(save_model(model, tmp_path / "tiny"))
    np.testing.assert_array_equal(loaded.predict_proba(tiny.X), proba)
    # a class absent from train does not stop the others from being calibrated
    absent = TabularDataset(df, drop_columns=["length"], classes=classes)
    model = fit_svc(absent)
    assert type(model.estimator).__name__ == "CalibratedClassifierCV"
    assert model.predict_proba(absent.X)[:, 1].max() == 0
    assert evaluate(model, absent)["accuracy"] == 1.0


# ---------------------------------------------------------------------------------------------
# Saving and loading


@pytest.fixture(scope="module")
def fitted_models():
    """One small model of each kind, with feature settings, and a test dataset."""
    rng = np.random.default_rng(5)
    train_ds, val_ds, test_ds = datasets(make_table(rng, sep=2.0))
    models = {}
    for kind in TABULAR_KINDS:
        model = fit(kind, train_ds, val_ds)
        model.settings = {"sr": 22050, "n_mfcc": 13, "stats": ["mean", "std"],
                          "feature_set": "seed"}
        models[kind] = model
    return models, test_ds


@pytest.mark.parametrize("kind", TABULAR_KINDS)
def test_save_load_round_trip(fitted_models, kind, tmp_path):
    models, test_ds = fitted_models
    model = models[kind]
    path = save_model(model, tmp_path / "model")
    assert (path / "model.json").exists()
    assert weights_file(path).exists()
    assert weights_file(path).name.startswith("weights-" if kind == "mlp" else "estimator-")
    # saving again over it leaves one weights file, the new one
    save_model(model, path)
    assert len(list(path.glob("weights*"))) + len(list(path.glob("estimator*"))) == 1
    assert not list(path.glob("*.tmp")) and not list(path.glob("*.pkl"))
    loaded = load_model(path)
    assert loaded.kind == kind
    assert loaded.classes == model.classes == ["a", "b", "c"]
    assert loaded.feature_columns == model.feature_columns == FEATURES
    assert loaded.label_column == "label"
    assert loaded.settings == model.settings and loaded.info == json.loads(
        json.dumps(model.info))
    np.testing.assert_array_equal(loaded.scaler.mean_, model.scaler.mean_)
    np.testing.assert_array_equal(loaded.scaler.scale_, model.scaler.scale_)
    np.testing.assert_array_equal(loaded.predict_proba(test_ds.X), model.predict_proba(test_ds.X))
    # the loaded scaler transforms a raw table exactly like the original
    raw = test_ds.frame
    np.testing.assert_array_equal(loaded.dataset(raw).X, test_ds.X)
    assert evaluate(loaded, raw) == evaluate(model, raw)


@pytest.mark.parametrize("kind", TABULAR_KINDS)
def test_model_json_holds_everything_needed(fitted_models, kind, tmp_path):
    models, _ = fitted_models
    model = models[kind]
    meta = json.loads((save_model(model, tmp_path / "m") / "model.json").read_text())
    assert meta["kind"] == kind
    assert meta["classes"] == ["a", "b", "c"]
    assert meta["feature_columns"] == FEATURES
    assert meta["label_column"] == "label"
    assert meta["settings"]["stats"] == ["mean", "std"]
    np.testing.assert_array_equal(meta["scaler"]["mean"], model.scaler.mean_)
    np.testing.assert_array_equal(meta["scaler"]["scale"], model.scaler.scale_)
    assert len(meta["weights_sha256"]) == 64


def weights_file(path):
    """The weights file a saved model's model.json points to."""
    return path / json.loads((path / "model.json").read_text())["weights_file"]


def _rewrite_checksum(path):
    """Make model.json agree with whatever weights file is there (a deliberate forgery)."""
    import hashlib

    meta = json.loads((path / "model.json").read_text())
    old = path / meta["weights_file"]
    digest = hashlib.sha256(old.read_bytes()).hexdigest()
    stem, ext = old.name.split("-")[0], old.suffix
    new = path / f"{stem}-{digest[:16]}{ext}"  # named by its checksum, as save_model names it
    old.rename(new)
    meta["weights_sha256"], meta["weights_file"] = digest, new.name
    (path / "model.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("kind", TABULAR_KINDS)
@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_tampered_weights_are_refused(fitted_models, kind, damage, tmp_path):
    path = save_model(fitted_models[0][kind], tmp_path / "m")
    weights = weights_file(path)
    data = bytearray(weights.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "truncate":
        weights.write_bytes(bytes(data[: len(data) // 2]))
    else:
        weights.unlink()
    with pytest.raises(ModelError, match="weights-.*pt|estimator-.*skops"):
        load_model(path)


@pytest.mark.parametrize("kind", TABULAR_KINDS)
def test_truncated_weights_with_matching_checksum_are_a_clear_error(fitted_models, kind, tmp_path):
    path = save_model(fitted_models[0][kind], tmp_path / "m")
    weights = weights_file(path)
    weights.write_bytes(weights.read_bytes()[:300])
    _rewrite_checksum(path)
    with pytest.raises(ModelError, match="cannot load"):
        load_model(path)


def test_missing_or_broken_model_json(fitted_models, tmp_path):
    with pytest.raises(ModelError, match="no model.json"):
        load_model(tmp_path / "nowhere")
    path = save_model(fitted_models[0]["svc"], tmp_path / "m")
    (path / "model.json").unlink()
    with pytest.raises(ModelError, match="no model.json"):
        load_model(path)
    path = save_model(fitted_models[0]["mlp"], tmp_path / "m2")
    (path / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        load_model(path)
    meta = json.loads(save_model(fitted_models[0]["mlp"], tmp_path / "m3").joinpath(
        "model.json").read_text())
    meta["weights_file"] = "../../etc/passwd"
    (tmp_path / "m3" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="weights_file"):
        load_model(tmp_path / "m3")


def test_skops_file_with_untrusted_type_is_refused(fitted_models, tmp_path):
    import os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    path = save_model(fitted_models[0]["svc"], tmp_path / "m")
    # A valid skops file whose object is not one of the model families, holding os.system.
    sio.dump(FunctionTransformer(func=os.system), weights_file(path))
    _rewrite_checksum(path)  # the attacker also fixed the checksum
    with pytest.raises(ModelError, match="untrusted.*(FunctionTransformer|system)"):
        load_model(path)
    # A trusted model type carrying a numpy callable is refused as well.
    est = fitted_models[0]["rf"].estimator
    est.evil = np.load
    try:
        sio.dump(est, weights_file(path))
    finally:
        del est.evil
    _rewrite_checksum(path)
    with pytest.raises(ModelError, match="untrusted.*numpy"):
        load_model(path)


def test_mlp_weights_loaded_with_weights_only(fitted_models, tmp_path, monkeypatch):
    path = save_model(fitted_models[0]["mlp"], tmp_path / "m")
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_model(path)
    assert calls and all(c.get("weights_only") is True for c in calls)
    monkeypatch.undo()
    # A weights file holding an arbitrary object (pickle) is refused, even with its checksum.
    torch.save({"net.0.weight": zipfile.ZipInfo("x")}, weights_file(path))
    _rewrite_checksum(path)
    with pytest.raises(ModelError, match="cannot load the MLP weights"):
        load_model(path)


# ---------------------------------------------------------------------------------------------
# Prediction of audio files (real clips)


@pytest.fixture(scope="module")
def emotify_models(emotify_prepared):
    return {(kind, level): train_on_folder(emotify_prepared, kind=kind, label_column=level)[0]
            for kind, level in [("mlp", "fst_level_label"), ("svc", "label"), ("rf", "label")]}


@pytest.mark.parametrize("key", [("mlp", "fst_level_label"), ("svc", "label"), ("rf", "label")])
def test_predict_file_on_real_mp3s(emotify_models, emotify_prepared, emotify_dir, key, tmp_path):
    model = emotify_models[key]
    assert model.settings["stats"] == ["mean", "std"]
    ann = pd.read_csv(emotify_prepared / "test" / "annotations.csv")
    ds = model.dataset(emotify_prepared / "test")
    table_proba = model.predict_proba(ds.X)
    for i in (0, len(ann) - 1):  # a classical and a rock clip, both unseen in training
        answer = predict_file(model, emotify_dir / ann["source"][i])
        assert list(answer) == [model.label_column]
        proba = answer[model.label_column]["probabilities"]
        assert answer[model.label_column]["genre"] == next(iter(proba))
        assert set(proba) == set(model.classes)
        values = list(proba.values())
        assert sum(values) == pytest.approx(1.0, abs=1e-6)
        assert values == sorted(values, reverse=True)  # most likely first
        assert all(0.0 <= v <= 1.0 for v in values)
        # the mp3 decoded directly gives (nearly) what the prepared 16-bit WAV gave
        for c, p in proba.items():
            assert p == pytest.approx(table_proba[i][model.classes.index(c)], abs=0.02)
    # a saved model (a path) works the same
    path = save_model(model, tmp_path / "m")
    source = emotify_dir / ann["source"][0]
    by_path = predict_file(path, source)[model.label_column]["probabilities"]
    assert by_path == pytest.approx(predict_file(model, source)[model.label_column]
                                    ["probabilities"])


def test_predict_file_refuses_corrupt_audio(emotify_models, emotify_dir, tmp_path, rng):
    model = emotify_models[("mlp", "fst_level_label")]
    bad = tmp_path / "corrupt.mp3"
    bad.write_bytes(rng.integers(0, 256, size=20000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioLoadError, match="corrupt.mp3"):
        predict_file(model, bad)
    text = tmp_path / "notes.txt"
    text.write_text("not music\n" * 100)
    with pytest.raises(AudioLoadError):
        predict_file(model, text)
    with pytest.raises(AudioLoadError, match="no such file"):
        predict_file(model, tmp_path / "missing.wav")


def test_predict_file_names_features_the_settings_do_not_make(emotify_models, emotify_dir):
    model = emotify_models[("svc", "label")]
    clip = next((emotify_dir / "pop").glob("*.mp3"))
    stripped = GenreClassifier(model.kind, model.estimator, model.classes,
                               model.feature_columns, model.label_column, model.scaler,
                               settings={**model.settings, "stats": ["mean"]})
    with pytest.raises(ModelError, match="std_"):
        predict_file(stripped, clip)


def test_predict_file_has_one_shape_whatever_the_levels(demo_dir):
    """issue 16, item 11: level -> {"genre", "probabilities"} for one level as for all."""
    model, _ = train_on_folder(demo_dir, kind="logreg", label_column="thr_level_label",
                               selection="split", n_jobs=1)
    ann = pd.read_csv(demo_dir / "test" / "annotations.csv")
    wav = demo_dir / ann["audio_file"].iloc[0]
    one = predict_file(model, wav)
    every = predict_file(model, wav, levels="all")
    some = predict_file(model, wav, levels="fst_level_label")
    assert list(one) == ["thr_level_label"]
    assert list(every) == ["thr_level_label", "fst_level_label", "sec_level_label"]
    assert list(some) == ["thr_level_label", "fst_level_label"]
    for answer in (one, every, some):
        for r in answer.values():
            assert set(r) == {"genre", "probabilities", "uncertain"}
            assert r["genre"] in r["probabilities"]
            assert sum(r["probabilities"].values()) == pytest.approx(1.0)
    assert one["thr_level_label"]["probabilities"] == every["thr_level_label"]["probabilities"]
    assert some["fst_level_label"] == every["fst_level_label"]
    with pytest.raises(ModelError, match="does not determine"):
        predict_file(model, wav, levels=["genre"])


# ---------------------------------------------------------------------------------------------
# The comparison table


def test_compare_models_on_demo(demo_dir, tmp_path):
    lines = []
    results = compare_models(demo_dir, models_dir=tmp_path / "models", log=lines.append)
    levels = ["fst_level_label", "sec_level_label", "thr_level_label"]
    assert list(results.columns) == ["level", "model", "derived_from", "n_classes", "n_test",
                                     "accuracy", "f1_macro", "f1", "selection", "split_rule"]
    direct = results[results["derived_from"] == ""]
    assert list(zip(direct["level"], direct["model"], strict=True)) == [
        (lvl, k) for lvl in levels for k in DEFAULT_KINDS]
    # the coarse levels derived from the finest level's models, beside the direct ones
    derived = results[results["derived_from"] != ""]
    assert sorted(zip(derived["level"], derived["model"], strict=True)) == sorted(
        (lvl, k) for lvl in levels[:2] for k in DEFAULT_KINDS)
    assert (derived["derived_from"] == "thr_level_label").all()
    assert results.notna().all().all()
    assert results[["accuracy", "f1_macro", "f1"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (results["n_test"] == len(pd.read_csv(demo_dir / "test" / "features.csv"))).all()
    assert results.set_index("level")["n_classes"].loc["fst_level_label"].eq(2).all()
    # a small corpus: hyper-parameters chosen by cross-validation over train + validation
    assert direct["selection"].str.contains("CV over train \\+ validation").all()
    # progress: a line before and after every model
    assert sum("training" in line for line in lines) == len(direct)
    for lvl in levels:
        for k in DEFAULT_KINDS:
            assert load_model(tmp_path / "models" / f"{k}-{lvl}").label_column == lvl
    fine = load_model(tmp_path / "models" / "svc-thr_level_label")
    assert set(fine.hierarchy) == {"fst_level_label", "sec_level_label"}
    assert fine.hierarchy["fst_level_label"]["Soft_rock"] == "Non_classic"
    only = compare_models(demo_dir, levels=["fst_level_label"], kinds=("svc",))
    assert only[["level", "model"]].values.tolist() == [["fst_level_label", "svc"]]
    with pytest.raises(FileNotFoundError, match="holdout"):
        compare_models(demo_dir, split="holdout")


# ---------------------------------------------------------------------------------------------
# The published GTZAN feature table (issue 4)


@pytest.fixture(scope="module")
def gtzan_folds(gtzan_csv):
    """Stratified 5-fold splits, repeated with random_state 0 and 1 (10 folds); in each, a
    stratified 15% of the training part (seeded by the fold number) is the validation split."""
    df = pd.read_csv(gtzan_csv)
    folds = []
    for repetition in (0, 1):
        skf = StratifiedKFold(n_splits=5, shuffle=True, random_state=repetition)
        for i, (tr, te) in enumerate(skf.split(df, df["label"])):
            train, val = train_test_split(df.iloc[tr], test_size=0.15,
                                          stratify=df["label"].iloc[tr], random_state=i)
            train_ds = TabularDataset(train, label_column="label",
                                      drop_columns=["filename", "length"])
            folds.append((repetition, train_ds, train_ds.derive(val),
                          train_ds.derive(df.iloc[te])))
    assert folds[0][1].n_features == 57
    return folds


@pytest.mark.slow
def test_gtzan_mlp_and_svc_reach_the_published_figures(gtzan_folds):
    acc = {"mlp": [], "svc": []}
    for _, train_ds, val_ds, test_ds in gtzan_folds:
        acc["mlp"].append(evaluate(train_mlp(train_ds, val_ds)[0], test_ds)["accuracy"])
        acc["svc"].append(evaluate(fit_svc(train_ds, val_ds), test_ds)["accuracy"])
    for kind, a in acc.items():
        print(f"GTZAN {kind}: mean accuracy {np.mean(a):.3f} over 10 folds "
              f"(random_state 0: {np.mean(a[:5]):.3f}, 1: {np.mean(a[5:]):.3f})")
    assert np.mean(acc["mlp"]) >= 0.70
    assert np.mean(acc["svc"]) >= 0.73


@pytest.mark.slow
def test_gtzan_random_forest_sanity(gtzan_folds):
    # One repetition and one setting (the defaults: sqrt features, leaves of 1) fitted on train
    # and refitted on train + validation: 500 trees x 5 settings per fold was the slow part of
    # this file. The choice among the grid's settings runs on the synthetic tables above
    # (`fit("rf", ...)`) and in test_model_selection.py.
    grid = [dict(DEFAULT_PARAMS["rf"])]
    acc = [evaluate(fit_random_forest(train_ds, val_ds, grid=grid, n_jobs=2), test_ds)["accuracy"]
           for rep, train_ds, val_ds, test_ds in gtzan_folds if rep == 0]
    print(f"GTZAN rf: mean accuracy {np.mean(acc):.3f} over 5 folds")
    assert np.mean(acc) >= 0.65
