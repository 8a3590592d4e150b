"""as_pipeline: a trained GenreClassifier as a fitted scikit-learn Pipeline of raw rows.

Every kind of feature-row model: the pipeline predicts the model's labels from unscaled rows,
with the model's probabilities; it clones and refits on labels; it saves and loads as a
pipeline; a spectrogram model is refused. Then the same on a model the project trained from a
prepared folder (train_on_folder on the demo corpus).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from test_heads import _table as _heads_table

from bag_of_songs.models import (
    GenreClassifier,
    ModelError,
    TabularDataset,
    as_pipeline,
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


def test_a_model_trained_from_a_prepared_folder(demo_dir, tmp_path):
    """What the command line trains (here the SVC on the study's clip-mean table) predicts the
    test split's clips from their raw feature columns, and round-trips as a pipeline."""
    model = train_on_folder(demo_dir, kind="svc", label_column="fst_level_label", seed=0)
    if isinstance(model, tuple):
        model = model[0]
    test = read_features(demo_dir / "test")
    pipe = _check_view(model, test, tmp_path, refit=False)
    assert pipe.n_features_in_ == len(model.feature_columns) == 32
