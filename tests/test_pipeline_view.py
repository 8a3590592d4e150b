"""A trained GenreClassifier as a fitted scikit-learn Pipeline of raw rows, and back.

Every kind of feature-row model: its pipeline (``model.pipeline``, ``as_pipeline``) predicts the
model's labels from unscaled rows, with the model's probabilities; it clones and refits on
labels; it saves and loads as a pipeline; a spectrogram model is refused. The way back
(``GenreClassifier.from_pipeline``) gives the same model, and makes a model folder of a
pipeline fitted with scikit-learn (GridSearchCV's best, the study's MLP on labels); pipelines of
other shapes are refused with a reason. Then the same on a model the project trained from a
prepared folder (train_on_folder on the demo corpus).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from test_heads import _table as _heads_table

from bag_of_songs import StudyMLPClassifier
from bag_of_songs.cli import main
from bag_of_songs.features import read_feature_settings
from bag_of_songs.models import (
    GenreClassifier,
    ModelError,
    TabularDataset,
    as_pipeline,
    evaluate,
    fit_random_forest,
    fit_svc,
    load_model,
    read_features,
    save_model,
    train_mlp,
    train_on_folder,
)
from bag_of_songs.models.baselines import fit_lda, fit_linear_svc, fit_logreg

FITS = {
    "mlp": lambda ds: train_mlp(ds, epochs=5, seed=0)[0],
    "svc": lambda ds: fit_svc(ds, seed=0),
    "rf": lambda ds: fit_random_forest(ds, seed=0, n_jobs=1),
    "logreg": lambda ds: fit_logreg(ds, seed=0),
    "lda": lambda ds: fit_lda(ds, seed=0),
    "linsvc": lambda ds: fit_linear_svc(ds, seed=0),
}


def _table(n=10, seed=0):
    """test_heads' three separable classes, its feature columns moved off zero mean and unit
    variance (the pipeline's scaler has work to do)."""
    table = _heads_table(np.random.default_rng(seed), n=n)
    columns = [c for c in table if c.startswith("f")]
    table[columns] = 10 * table[columns] + 5
    return table


def _check_view(model: GenreClassifier, table: pd.DataFrame, tmp_path, *, refit=True):
    ds = model.dataset(table)
    raw = table[model.feature_columns].to_numpy()
    pipe = as_pipeline(model)
    assert type(pipe) is Pipeline and [n for n, _ in pipe.steps] == ["scaler", "classifier"]
    assert pipe.classes_.tolist() == model.classes
    expected = np.asarray(model.classes)[model.predict(ds.X)]
    assert pipe.predict(raw).tolist() == expected.tolist()
    proba = pipe.predict_proba(raw)
    if model.kind == "mlp":  # the same network on the same float32 rows: bit for bit
        np.testing.assert_array_equal(proba, model.predict_proba(ds.X))
    else:  # the model rounds scaled rows to float32 first
        np.testing.assert_allclose(proba, model.predict_proba(ds.X), atol=1e-5)
    back = load_model(save_model(pipe, tmp_path / "pipe"))
    assert back.predict(raw).tolist() == expected.tolist()
    assert model.pipeline.predict(raw).tolist() == expected.tolist()
    # and back: the same parts, the same probabilities of scaled rows, bit for bit
    again = GenreClassifier.from_pipeline(pipe, label_column=model.label_column,
                                          feature_columns=model.feature_columns)
    assert again.kind == model.kind and again.classes == model.classes
    assert again.scaler.mean_ is model.scaler.mean_  # shared arrays, separate objects
    np.testing.assert_array_equal(again.predict_proba(ds.X), model.predict_proba(ds.X))
    folder = load_model(save_model(again, tmp_path / "model"))
    assert type(folder) is GenreClassifier and folder.kind == model.kind
    np.testing.assert_array_equal(folder.predict_proba(ds.X), model.predict_proba(ds.X))
    # fitting the view itself (on other rows) leaves the model as it was
    before = model.predict_proba(ds.X)
    if refit:
        model.pipeline.fit(raw * 3 + 1, table[model.label_column].to_numpy())
        np.testing.assert_array_equal(model.predict_proba(model.dataset(table).X), before)
    if refit:
        again = clone(pipe).fit(raw, table[model.label_column].to_numpy())
        assert set(again.classes_) == set(model.classes)
        # (above chance, 1/3: the MLP refits with the model's own short epoch limit)
        assert (again.predict(raw) == table[model.label_column].to_numpy()).mean() > 0.5
    return pipe


@pytest.mark.parametrize("kind", sorted(FITS))
def test_every_feature_model_as_a_pipeline(kind, tmp_path):
    table = _table()
    model = FITS[kind](TabularDataset(table))
    _check_view(model, table, tmp_path)


def test_the_softmax_fallback_of_tiny_classes_as_a_pipeline(tmp_path):
    table = _table(n=2, seed=1)
    model = fit_linear_svc(TabularDataset(table), seed=0)
    assert type(model.estimator).__name__ == "_SoftmaxSVC"
    pipe = _check_view(model, table, tmp_path, refit=False)
    assert pipe.named_steps["classifier"].svc.classes_.tolist() == model.classes
    assert model.estimator.svc.classes_.tolist() == [0, 1, 2]  # the model itself is untouched


def test_a_spectrogram_model_or_another_object_is_refused():
    cnn = GenreClassifier("cnn", None, ["a", "b"], [], "label", None)
    with pytest.raises(ModelError, match="spectrograms"):
        as_pipeline(cnn)
    with pytest.raises(ModelError, match="GenreClassifier"):
        as_pipeline(object())


def test_a_grid_searched_pipeline_becomes_a_model_folder(tmp_path):
    """The best of a GridSearchCV over a calibrated SVC, fitted on labels from a DataFrame,
    becomes a model: its feature columns are the DataFrame's, it is evaluated and saved as a
    model folder like the project's own, and predicts as the pipeline does."""
    table = _table(n=12)
    columns = [c for c in table if c.startswith("f")]
    X, y = table[columns], table["label"].to_numpy()
    base = make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(), cv=3, ensemble=False))
    search = GridSearchCV(base, {"calibratedclassifiercv__estimator__C": [0.1, 10.0]},
                          cv=StratifiedKFold(3, shuffle=True, random_state=0)).fit(X, y)
    model = GenreClassifier.from_pipeline(search.best_estimator_, label_column="label",
                                          info={"params": search.best_params_})
    assert model.kind == "svc" and model.feature_columns == columns
    assert model.info["params"] == search.best_params_
    ds = model.dataset(table)
    labels = np.asarray(model.classes)[model.predict(ds.X)]
    assert labels.tolist() == search.predict(X).tolist()
    assert evaluate(model, ds)["accuracy"] == pytest.approx((search.predict(X) == y).mean())
    back = load_model(save_model(model, tmp_path / "svc"))
    assert back.pipeline.predict(X.to_numpy()).tolist() == labels.tolist()


def test_the_study_mlp_fitted_on_labels_becomes_a_model_folder(tmp_path):
    table = _table(n=12)
    columns = [c for c in table if c.startswith("f")]
    pipe = make_pipeline(StandardScaler(), StudyMLPClassifier(max_epochs=6, random_state=3))
    pipe.fit(table[columns], table["label"])
    model = GenreClassifier.from_pipeline(pipe, label_column="label")
    assert model.kind == "mlp" and model.info["seed"] == 3
    assert model.info["best_epoch"] == pipe[-1].best_epoch_
    back = load_model(save_model(model, tmp_path / "mlp"))
    np.testing.assert_array_equal(back.pipeline.predict_proba(table[columns].to_numpy()),
                                  pipe.predict_proba(table[columns]))


@pytest.mark.parametrize("make, reason", [
    (lambda: make_pipeline(StandardScaler(), SVC()), "no class probabilities"),
    (lambda: make_pipeline(StandardScaler(), KNeighborsClassifier(3)), "not one of the project"),
    (lambda: make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(), cv=2)),
     "as a model folder holds it"),
    (lambda: make_pipeline(StandardScaler(), StudyMLPClassifier(hidden=(8,), max_epochs=2)),
     "hidden layers"),
    (lambda: make_pipeline(StandardScaler(), StandardScaler(), LogisticRegression()),
     "two steps"),
    (lambda: make_pipeline(LogisticRegression(max_iter=1000)), "two steps"),
])
def test_pipelines_of_other_shapes_are_refused(make, reason):
    table = _table()
    columns = [c for c in table if c.startswith("f")]
    pipe = make().fit(table[columns].to_numpy(), table["label"].to_numpy())
    with pytest.raises(ModelError, match=reason):
        GenreClassifier.from_pipeline(pipe, label_column="label", feature_columns=columns)


def test_from_pipeline_refuses_unfitted_unnamed_and_numeric_labels():
    table = _table()
    columns = [c for c in table if c.startswith("f")]
    X = table[columns].to_numpy()
    with pytest.raises(ModelError, match="not fitted"):
        GenreClassifier.from_pipeline(make_pipeline(StandardScaler(), LogisticRegression()),
                                      label_column="label", feature_columns=columns)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, table["label"])
    with pytest.raises(ModelError, match="feature_columns"):
        GenreClassifier.from_pipeline(pipe, label_column="label")
    with pytest.raises(ModelError, match="feature_columns"):
        GenreClassifier.from_pipeline(pipe, label_column="label", feature_columns=columns[:-1])
    numeric = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        X, pd.factorize(table["label"])[0])
    with pytest.raises(ModelError, match="strings"):
        GenreClassifier.from_pipeline(numeric, label_column="label", feature_columns=columns)
    with pytest.raises(ModelError, match="spectrograms"):
        _ = GenreClassifier("cnn", None, ["a", "b"], [], "label", None).pipeline


def test_the_view_and_the_model_share_nothing_a_fit_or_set_params_changes():
    table = _table()
    columns = [c for c in table if c.startswith("f")]
    raw, y = table[columns].to_numpy(), table["label"].to_numpy()
    svc = fit_svc(TabularDataset(table), seed=0)
    C = svc.estimator.estimator.C
    svc.pipeline.set_params(classifier__estimator__C=123.0)
    assert svc.estimator.estimator.C == C
    rf = fit_random_forest(TabularDataset(table), seed=0, n_jobs=1)
    n_trees, before = len(rf.estimator.estimators_), rf.predict_proba(rf.dataset(table).X)
    view = rf.pipeline.set_params(classifier__warm_start=True,
                                  classifier__n_estimators=n_trees + 5)
    view.fit(raw, y)
    assert len(view[-1].estimators_) == n_trees + 5 and len(rf.estimator.estimators_) == n_trees
    np.testing.assert_array_equal(rf.predict_proba(rf.dataset(table).X), before)
    # the way back: refitting the user's pipeline leaves the model as it was
    mine = make_pipeline(StandardScaler(), RandomForestClassifier(20, random_state=0)).fit(raw, y)
    model = GenreClassifier.from_pipeline(mine, label_column="label", feature_columns=columns)
    before = model.predict_proba(model.dataset(table).X)
    mine.set_params(randomforestclassifier__warm_start=True,
                    randomforestclassifier__n_estimators=25).fit(raw * 2 - 1, y)
    np.testing.assert_array_equal(model.predict_proba(model.dataset(table).X), before)


def test_from_pipeline_checks_what_a_model_folder_would_hold():
    table = _table()
    columns = [c for c in table if c.startswith("f")]
    X, y = table[columns], table["label"].to_numpy()
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    with pytest.raises(ModelError, match="differ from the columns"):
        GenreClassifier.from_pipeline(pipe, label_column="label", feature_columns=columns[::-1])
    with pytest.raises(ModelError, match="hierarchy"):
        GenreClassifier.from_pipeline(pipe, label_column="label",
                                      hierarchy={"coarse": {pipe.classes_[0]: "x"}})
    with pytest.raises(ModelError, match="JSON"):
        GenreClassifier.from_pipeline(pipe, label_column="label", info={"when": object()})
    with pytest.raises(ModelError, match="feature settings"):
        GenreClassifier.from_pipeline(pipe, label_column="label", settings={"n_mfcc": -3})
    for scaler in (StandardScaler(with_mean=False), StandardScaler(with_std=False)):
        odd = make_pipeline(scaler, LogisticRegression()).fit(X, y)
        with pytest.raises(ModelError, match="with_mean and with_std"):
            GenreClassifier.from_pipeline(odd, label_column="label")
    open_end = Pipeline([("scaler", StandardScaler()), ("classifier", "passthrough")]).fit(X, y)
    with pytest.raises(ModelError, match="no class probabilities"):
        GenreClassifier.from_pipeline(open_end, label_column="label")


def test_from_pipeline_keeps_the_mlp_recipe(tmp_path):
    table = _table()
    columns = [c for c in table if c.startswith("f")]
    head = StudyMLPClassifier(max_epochs=3, validation_fraction=None, random_state=None)
    pipe = make_pipeline(StandardScaler(), head).fit(table[columns], table["label"])
    model = GenreClassifier.from_pipeline(pipe, label_column="label")
    back = load_model(save_model(model, tmp_path / "mlp")).pipeline[-1]
    assert back.get_params() == head.get_params()


def test_a_model_trained_from_a_prepared_folder(demo_dir, tmp_path):
    """What the command line trains (here the SVC on the study's clip-mean table) predicts the
    test split's clips from their raw feature columns, and round-trips as a pipeline."""
    model = train_on_folder(demo_dir, kind="svc", label_column="fst_level_label", seed=0)
    if isinstance(model, tuple):
        model = model[0]
    test = read_features(demo_dir / "test")
    pipe = _check_view(model, test, tmp_path, refit=False)
    assert pipe.n_features_in_ == len(model.feature_columns) == 32


def test_a_pipeline_of_your_own_predicts_files_from_the_command_line(demo_dir, tmp_path, capsys):
    """A pipeline fitted with scikit-learn on the demo corpus's table, made a model with the
    table's feature settings and saved, predicts a test clip's audio file from the command line
    as the pipeline predicts the clip's row."""
    level = "fst_level_label"
    train = read_features(demo_dir / "train")
    columns = TabularDataset(train, label_column=level).feature_columns
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(train[columns], train[level])
    model = GenreClassifier.from_pipeline(pipe, label_column=level,
                                          settings=read_feature_settings(demo_dir / "train"))
    folder = save_model(model, tmp_path / "mine")
    test = read_features(demo_dir / "test")
    wav = demo_dir / test["audio_file"].iloc[0]
    capsys.readouterr()
    assert main(["predict", str(folder), str(wav), "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert record["genre"] == pipe.predict(test[columns].iloc[[0]])[0]
