"""The regularised linear heads: shrinkage LDA and linear SVC (calibrated), logreg to 1e-4.

Their grids, their calibrated probabilities (on grouped folds when groups are given), and their
safe saving: a round trip predicts the same, and crafted files are refused with ModelError.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import RandomForestClassifier
from sklearn.svm import LinearSVC

from bag_of_songs.models import ModelError, TabularDataset, load_model, save_model, select_model
from bag_of_songs.models.baselines import (
    PARAM_GRIDS,
    _calibrated,
    _make_estimator,
    fit_lda,
    fit_linear_svc,
)
from bag_of_songs.models.kinds import MODEL_KINDS, TABULAR_KINDS
from bag_of_songs.models.safety import _TRUSTED_BY_KIND

HEADS = {"lda": fit_lda, "linsvc": fit_linear_svc}


def _table(rng, n=10, classes=("a", "b", "c"), d=4):
    rows = []
    for k, c in enumerate(classes):
        for i in range(n):
            x = rng.normal(size=d)
            x[0] += 3 * k
            rows.append({"audio_file": f"{c}{i}.wav", "label": c,
                         **{f"f{j}": x[j] for j in range(d)}})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def ds():
    return TabularDataset(_table(np.random.default_rng(0)))


@pytest.fixture(scope="module")
def saved(ds, tmp_path_factory):
    root = tmp_path_factory.mktemp("heads")
    return {kind: save_model(fit(ds, seed=0), root / kind) for kind, fit in HEADS.items()}


def test_heads_are_model_kinds_and_grids_reach_strong_regularisation():
    assert {"lda", "linsvc"} <= set(TABULAR_KINDS) <= set(MODEL_KINDS)
    assert min(PARAM_GRIDS["logreg"]["C"]) == 1e-4
    assert min(PARAM_GRIDS["linsvc"]["C"]) == 1e-4 and max(PARAM_GRIDS["linsvc"]["C"]) >= 10
    assert "auto" in PARAM_GRIDS["lda"]["shrinkage"]
    assert all(0 < s < 1 for s in PARAM_GRIDS["lda"]["shrinkage"] if s != "auto")


@pytest.mark.parametrize("kind", ["lda", "linsvc"])
def test_heads_are_selected_by_grouped_cv_and_calibrated(ds, kind):
    model = select_model(kind, ds, selection="cv", seed=0, n_jobs=1)
    assert model.info["params"] in [dict(zip(PARAM_GRIDS[kind], v, strict=True))
                                    for v in zip(*PARAM_GRIDS[kind].values(), strict=True)]
    est = model.estimator
    assert type(est) is CalibratedClassifierCV and est.method == "sigmoid"
    inner = est.calibrated_classifiers_[0].estimator
    assert type(inner) is {"lda": LinearDiscriminantAnalysis, "linsvc": LinearSVC}[kind]
    if kind == "lda":
        assert inner.solver == "lsqr"
    proba = model.predict_proba(ds.X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (model.predict(ds.X) == ds.y).mean() > 0.8


def test_calibration_folds_keep_groups_whole(ds):
    groups = np.array([f"artist{i // 2}" for i in range(len(ds.y))])
    est = _make_estimator("linsvc", {"C": 1e-3}, seed=0, y=ds.y, groups=groups)
    folds = est.cv
    assert len(folds) == 5
    for tr, te in folds:
        assert not set(groups[tr]) & set(groups[te])
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(len(ds.y)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        est.fit(ds.X, ds.y)
    np.testing.assert_allclose(est.predict_proba(ds.X).sum(axis=1), 1.0)


def test_tiny_classes_fall_back(ds):
    y = np.array([0, 0, 1, 1, 2, 2])
    assert type(_calibrated(LinearDiscriminantAnalysis(), y=y)) is LinearDiscriminantAnalysis
    est = _make_estimator("linsvc", {"C": 1.0}, seed=0, y=y)
    assert type(est).__name__ == "_SoftmaxSVC"
    with pytest.raises(ModelError, match="labels"):
        _calibrated(LinearSVC(), y=None)


@pytest.mark.parametrize("kind", ["lda", "linsvc"])
def test_round_trip_predicts_the_same(ds, saved, kind):
    model = HEADS[kind](ds, seed=0)
    back = load_model(saved[kind])
    assert back.kind == kind
    np.testing.assert_allclose(back.predict_proba(ds.X), model.predict_proba(ds.X))


@pytest.mark.parametrize("kind", ["lda", "linsvc"])
def test_fallback_round_trip(kind, tmp_path):
    small = TabularDataset(_table(np.random.default_rng(1), n=2))
    model = HEADS[kind](small, seed=0)
    assert type(model.estimator) is not CalibratedClassifierCV
    back = load_model(save_model(model, tmp_path / "m"))
    np.testing.assert_allclose(back.predict_proba(small.X), model.predict_proba(small.X))


def _forge(path: Path, est, tmp_path: Path) -> None:
    """Put ``est`` in as the weights, named and checksummed as save_model would."""
    import skops.io as sio

    f = tmp_path / "forged.skops"
    sio.dump(est, f)
    payload = f.read_bytes()
    meta = json.loads((path / "model.json").read_text())
    (path / meta["weights_file"]).unlink()
    digest = hashlib.sha256(payload).hexdigest()
    name = f"estimator-{digest[:16]}.skops"
    (path / name).write_bytes(payload)
    meta["weights_file"], meta["weights_sha256"] = name, digest
    (path / "model.json").write_text(json.dumps(meta))


def _inner(est):
    return est.calibrated_classifiers_[0].estimator


@pytest.mark.parametrize("kind", ["lda", "linsvc"])
@pytest.mark.parametrize("attr,value,field", [
    ("coef_", np.zeros((3, 9)), "coef_"),
    ("intercept_", np.zeros(5), "intercept_"),
    ("coef_", np.full((3, 4), np.nan), "non-finite"),
    ("classes_", np.array([0.5, 1.5, 2.5]), "classes_"),
])
def test_crafted_arrays_are_refused(saved, kind, attr, value, field, tmp_path):
    est = load_model(saved[kind]).estimator
    setattr(_inner(est), attr, value)
    path = Path(shutil.copytree(saved[kind], tmp_path / "m"))
    _forge(path, est, tmp_path)
    with pytest.raises(ModelError, match=field):
        load_model(path)


def test_crafted_lda_means_and_solver_are_refused(saved, tmp_path):
    for attr, value, field in [("means_", np.zeros((2, 4)), "means_"),
                               ("solver", "svd", "solver")]:
        est = load_model(saved["lda"]).estimator
        setattr(_inner(est), attr, value)
        path = Path(shutil.copytree(saved["lda"], tmp_path / attr))
        _forge(path, est, tmp_path)
        with pytest.raises(ModelError, match=field):
            load_model(path)


def test_a_linear_svc_in_an_lda_file_is_refused(saved, tmp_path):
    est = load_model(saved["linsvc"]).estimator
    path = Path(shutil.copytree(saved["lda"], tmp_path / "m"))
    _forge(path, est, tmp_path)
    with pytest.raises(ModelError, match="LinearSVC, not a LinearDiscriminantAnalysis"):
        load_model(path)


def test_types_outside_the_kinds_allow_list_are_refused(saved, ds, tmp_path):
    assert _TRUSTED_BY_KIND["lda"] == {"sklearn.calibration._CalibratedClassifier",
                                       "sklearn.calibration._SigmoidCalibration"}
    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(ds.X, ds.y)
    for kind in ("lda", "linsvc"):
        path = Path(shutil.copytree(saved[kind], tmp_path / kind))
        _forge(path, forest, tmp_path)
        with pytest.raises(ModelError, match="untrusted type.*Tree"):
            load_model(path)
