"""Selection runs over GridSearchCV: the same scores, fold for fold, as scoring each setting by
hand (the reference below), on whole-clip and segment tables and on the single split."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score
from sklearn.preprocessing import StandardScaler

from bag_of_songs.models import TabularDataset, fit_linear_svc, fit_svc, grouped_folds, param_grid
from bag_of_songs.models.baselines import _make_estimator, _select_on_validation
from bag_of_songs.models.dataset import _first_labels, _pool
from bag_of_songs.models.selection import _cv_search


def _by_hand(kind, params, ds, folds):
    """Each fold scaled on its training part, the clip decided by its rows' mean probability,
    clip-level macro F1, averaged over the folds."""
    scores = []
    for tr, te in folds:
        sc = StandardScaler().fit(ds.X[tr])
        est = _make_estimator(kind, params, seed=0, n_jobs=1, calibrated=False, n_estimators=200)
        est.fit(sc.transform(ds.X[tr]), ds.y[tr])
        proba = np.zeros((len(te), len(ds.classes)))
        proba[:, est.classes_] = est.predict_proba(sc.transform(ds.X[te]))
        _, clip_proba = _pool(proba, ds.clips[te])
        y_clip = _first_labels(ds, te)[2]
        scores.append(f1_score(y_clip, clip_proba.argmax(axis=1), average="macro",
                               zero_division=0))
    return float(np.mean(scores))


def _table(rng, n_classes, rows_per_clip, n=48):
    labels = rng.integers(0, n_classes, n)
    X = rng.normal(size=(n * rows_per_clip, 5))
    X[:, 0] += np.repeat(labels, rows_per_clip) * 0.8
    table = pd.DataFrame(X, columns=list("abcde")).assign(
        label=np.repeat([f"g{i}" for i in labels], rows_per_clip),
        audio_file=np.repeat([f"c{i}.wav" for i in range(n)], rows_per_clip))
    if rows_per_clip > 1:
        table["segment"] = np.tile(np.arange(rows_per_clip), n)
    return table


@pytest.mark.parametrize("kind", ["svc", "rf", "logreg", "lda", "linsvc"])
@pytest.mark.parametrize("n_classes, rows_per_clip", [(2, 1), (3, 4)])
def test_grid_search_scores_as_by_hand(kind, n_classes, rows_per_clip):
    ds = TabularDataset(_table(np.random.default_rng(n_classes), n_classes, rows_per_clip))
    folds = grouped_folds(ds, seed=0)
    grid = param_grid(kind, ds.n_features)[:3]
    search = _cv_search(kind, grid, ds, folds, seed=0, n_jobs=1)
    expected = [_by_hand(kind, p, ds, folds) for p in grid]
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], expected, rtol=0, atol=0)


@pytest.mark.parametrize("fit", [fit_svc, fit_linear_svc])
def test_the_single_split_rule_is_a_predefined_split(fit):
    table = _table(np.random.default_rng(5), 3, 1, n=60)
    train = TabularDataset(table.iloc[:45])
    val = train.derive(table.iloc[45:])
    model = fit(train, val)
    scores = {}
    grid = param_grid("svc" if fit is fit_svc else "linsvc", train.n_features)
    for params in grid:
        est = _make_estimator("svc" if fit is fit_svc else "linsvc", params, seed=0,
                              y=train.y).fit(train.X, train.y)
        scores[str(params)] = f1_score(val.y, est.predict(val.X), average="macro",
                                       zero_division=0)
    best = max(grid, key=lambda p: (scores[str(p)], -grid.index(p)))
    assert model.info["params"] == best
    assert model.info["val_f1_macro"] == pytest.approx(scores[str(best)], abs=0)
    _, params, score = _select_on_validation(
        lambda y=train.y, **p: _make_estimator("logreg", p, seed=0, y=y), [{"C": 1.0}],
        train, val)
    assert params == {"C": 1.0} and 0.0 <= score <= 1.0


def test_calibration_folds_keep_groups_whole_in_the_final_fit(monkeypatch):
    """With groups (an artist, or a segment table's clips), the calibrated heads' inner folds
    are grouped: select_model hands every row's group to the final estimator and to the
    held-out fits behind the uncertainty threshold."""
    import bag_of_songs.models.selection as S
    from bag_of_songs.models import row_groups, select_model

    seen = []
    real = S._make_estimator

    def spy(kind, params, **kw):
        if kw.get("calibrated", True):
            seen.append(kw.get("groups"))
        return real(kind, params, **kw)

    monkeypatch.setattr(S, "_make_estimator", spy)
    table = _table(np.random.default_rng(3), 2, 3, n=40)
    ds = TabularDataset(table)
    model = select_model("svc", ds, selection="cv", seed=0)
    final, *held_out = seen
    np.testing.assert_array_equal(final, row_groups(ds))  # one group per clip, rows together
    assert len(held_out) == 5 and all(g is not None for g in held_out)
    assert model.info["uncertainty"]["chosen_on"] == "cross-validation"
    seen.clear()
    whole = TabularDataset(_table(np.random.default_rng(3), 2, 1, n=40))
    select_model("svc", whole, selection="cv", seed=0)
    assert all(g is None for g in seen)  # nothing to keep together: calibration as before
