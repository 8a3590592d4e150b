"""Tests of ``bag_of_songs.models.estimators.StudyMLPClassifier``: scikit-learn's estimator
checks, clone and GridSearchCV, exact seeded repeats, labels of any type, probabilities, feature
names, early stopping on an internal or an external validation set (the same network as
``train_mlp``), and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from bag_of_songs.errors import ModelError
from bag_of_songs.models import TabularDataset, train_mlp
from bag_of_songs.models.estimators import StudyMLPClassifier
from bag_of_songs.models.mlp import MLP


def blobs(rng, classes=("rock", "pop", "jazz"), n=20, d=4, sep=3.0):
    """Separable clusters: class k is centred at ``sep * k`` on the first two features."""
    X = rng.normal(size=(n * len(classes), d))
    y = np.repeat(np.asarray(classes, dtype=object), n)
    X[:, :2] += sep * np.repeat(np.arange(len(classes)), n)[:, None]
    order = rng.permutation(len(y))
    return X[order], y[order]


def states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# Few epochs and a larger step keep the checks fast; every check passes (none is skipped).
@parametrize_with_checks([StudyMLPClassifier(max_epochs=20, lr=1e-2, random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_defaults_are_the_study_settings():
    params = StudyMLPClassifier().get_params()
    assert params == {"hidden": (128, 64), "lr": 1e-3, "batch_size": 32, "max_epochs": 50,
                      "patience": 5, "validation_fraction": 0.1, "random_state": None,
                      "device": "cpu"}


def test_clone_keeps_the_parameters_and_drops_the_fit(rng):
    X, y = blobs(rng)
    clf = StudyMLPClassifier(hidden=(16,), lr=1e-2, max_epochs=3, random_state=1).fit(X, y)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    assert not hasattr(twin, "module_") and not hasattr(twin, "classes_")


def test_grid_search_over_hidden_and_lr(rng):
    X, y = blobs(rng, n=15)
    grid = GridSearchCV(StudyMLPClassifier(max_epochs=5, validation_fraction=None,
                                           random_state=0),
                        {"hidden": [(8,), (16, 8)], "lr": [1e-3, 3e-2]}, cv=3)
    grid.fit(X, y)
    assert grid.best_params_["hidden"] in [(8,), (16, 8)]
    assert len(grid.cv_results_["params"]) == 4
    assert [m.out_features for m in grid.best_estimator_.module_.net
            if isinstance(m, torch.nn.Linear)] == [*grid.best_params_["hidden"], 3]
    assert set(grid.predict(X)) <= set(y)


def test_in_a_pipeline_with_cross_validation(rng):
    X, y = blobs(rng, n=12, sep=5.0)
    pipe = make_pipeline(StandardScaler(), StudyMLPClassifier(lr=1e-2, max_epochs=15,
                                                              random_state=0))
    scores = cross_val_score(pipe, X * 100 + 7, y, cv=3)
    assert scores.mean() > 0.8


def test_seeded_fit_repeats_exactly(rng):
    X, y = blobs(rng)
    a = StudyMLPClassifier(max_epochs=6, random_state=4).fit(X, y)
    torch.manual_seed(123)  # the global torch state must not matter ...
    np.random.seed(123)  # ... nor numpy's
    b = StudyMLPClassifier(max_epochs=6, random_state=4).fit(X, y)
    c = StudyMLPClassifier(max_epochs=6, random_state=5).fit(X, y)
    assert states_equal(a.module_, b.module_)
    pd.testing.assert_frame_equal(a.history_, b.history_)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not states_equal(a.module_, c.module_)


def test_fit_leaves_the_global_torch_random_state():
    state = torch.random.get_rng_state()
    X, y = blobs(np.random.default_rng(0), n=8)
    StudyMLPClassifier(max_epochs=2, random_state=0).fit(X, y)
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize("classes", [("rock", "pop"), ("rock", "pop", "jazz", "folk")])
def test_string_labels_in_labels_out_and_probabilities(rng, classes):
    X, y = blobs(rng, classes=classes, sep=4.0)
    X = StandardScaler().fit_transform(X)  # the MLP wants scaled features, as in the study
    clf = StudyMLPClassifier(lr=1e-2, max_epochs=20, random_state=0).fit(X, y)
    assert clf.classes_.tolist() == sorted(classes)
    n_out = 1 if len(classes) == 2 else len(classes)  # two classes: one logit, as the study
    assert clf.module_.net[-1].out_features == n_out
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), len(classes)) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    pred = clf.predict(X)
    assert set(pred) <= set(classes)
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, y) > 0.9


def test_dataframe_input_keeps_feature_names(rng):
    X, y = blobs(rng, n=10)
    frame = pd.DataFrame(X, columns=["mean_envelope", "mean_centroid", "mean_rms", "mean_zcr"])
    clf = StudyMLPClassifier(max_epochs=2, random_state=0).fit(frame, y)
    assert clf.feature_names_in_.tolist() == list(frame.columns)
    assert clf.n_features_in_ == 4
    clf.predict(frame)
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame.rename(columns={"mean_zcr": "other"}))


def overfitting(rng, n=60, d=40):
    """Few rows, many features, random labels: the validation loss soon rises."""
    return rng.normal(size=(n, d)), rng.choice(["p", "q", "r"], size=n)


def test_internal_validation_split_stops_early_and_restores(rng):
    X, y = overfitting(rng)
    clf = StudyMLPClassifier(patience=3, validation_fraction=0.3, random_state=2).fit(X, y)
    h = clf.history_
    assert clf.n_iter_ == len(h) < 50 and clf.n_iter_ - clf.best_epoch_ == 3
    assert clf.best_epoch_ == int(h["val_loss"].idxmin()) + 1
    assert h["val_loss"].notna().all()
    full = StudyMLPClassifier(max_epochs=7, validation_fraction=None, random_state=2).fit(X, y)
    assert full.n_iter_ == full.best_epoch_ == 7 and full.history_["val_loss"].isna().all()


def test_eval_set_gives_the_network_of_train_mlp(rng):
    X, y = overfitting(rng)
    names = [f"x{i}" for i in range(X.shape[1])]
    df = pd.DataFrame(X, columns=names).assign(label=y)
    train_ds = TabularDataset(df.iloc[:40])
    val_ds = train_ds.derive(df.iloc[40:])
    model, history = train_mlp(train_ds, val_ds, patience=2, seed=11)
    clf = StudyMLPClassifier(patience=2, random_state=11).fit(
        train_ds.X, y[:40], eval_set=(val_ds.X, y[40:]))
    assert states_equal(clf.module_, model.estimator)
    pd.testing.assert_frame_equal(clf.history_, history)
    assert clf.best_epoch_ == model.info["best_epoch"] < clf.n_iter_
    np.testing.assert_array_equal(clf.predict_proba(val_ds.X), model.predict_proba(val_ds.X))


def test_mlp_hidden_default_is_the_study_network():
    torch.manual_seed(0)
    a = MLP(6, 3)
    torch.manual_seed(0)
    b = MLP(6, 3, hidden=(128, 64))
    assert states_equal(a, b) and list(a.state_dict()) == ["net.0.weight", "net.0.bias",
                                                           "net.2.weight", "net.2.bias",
                                                           "net.4.weight", "net.4.bias"]


@pytest.mark.parametrize(("params", "match"), [
    ({"hidden": ()}, "hidden"),
    ({"hidden": (8, 0)}, "hidden"),
    ({"hidden": 128}, "hidden"),
    ({"lr": 0.0}, "lr"),
    ({"batch_size": 0}, "batch_size"),
    ({"max_epochs": 2.5}, "max_epochs"),
    ({"patience": 0}, "patience"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
    ({"device": "nowhere"}, "device"),
])
def test_bad_settings_raise_model_errors(rng, params, match):
    X, y = blobs(rng, n=10)
    with pytest.raises(ModelError, match=match):
        StudyMLPClassifier(**{"max_epochs": 2, **params}).fit(X, y)


def test_bad_data_raise_model_errors(rng):
    X, y = blobs(rng, classes=("a", "b"), n=10)
    with pytest.raises(ModelError, match="one class"):
        StudyMLPClassifier(max_epochs=1).fit(X, np.full(len(X), "a"))
    y_small = y.copy()
    y_small[np.flatnonzero(y == "b")[1:]] = "a"  # a single row of class "b"
    with pytest.raises(ModelError, match="validation_fraction=None"):
        StudyMLPClassifier(max_epochs=1).fit(X, y_small)
    StudyMLPClassifier(max_epochs=1, validation_fraction=None).fit(X, y_small)  # fine
    with pytest.raises(ModelError, match=r"eval_set label\(s\) \['c'\]"):
        StudyMLPClassifier(max_epochs=1).fit(X, y, eval_set=(X[:3], ["a", "b", "c"]))
    with pytest.raises(ModelError, match="pair"):
        StudyMLPClassifier(max_epochs=1).fit(X, y, eval_set=X)
    with pytest.raises(ValueError, match="features"):
        StudyMLPClassifier(max_epochs=1).fit(X, y, eval_set=(X[:, :2], y))


def test_train_mlp_refuses_bad_epochs(rng):
    X, y = blobs(rng, n=10)
    train_ds = TabularDataset(pd.DataFrame(X, columns=list("abcd")).assign(label=y))
    with pytest.raises(ModelError, match="max_epochs"):
        train_mlp(train_ds, epochs=0)
