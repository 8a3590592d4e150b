"""SegmentClassifier: fit on texture windows, decide each clip from its segments."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from bag_of_songs.demo import synthesize_demo_clip
from bag_of_songs.errors import FeatureError, ModelError
from bag_of_songs.features import extract_features
from bag_of_songs.features.sklearn import FeatureExtractor
from bag_of_songs.models.segments import SegmentClassifier


class _Stub(ClassifierMixin, BaseEstimator):
    """Gives the i-th segment row it is asked about the probabilities ``proba[i]``, and
    records what it was fitted on."""

    def __init__(self, proba=None):
        self.proba = proba

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.X_fit_, self.y_fit_ = np.asarray(X), np.asarray(y)
        return self

    def predict_proba(self, X):
        assert len(X) == len(self.proba)
        return np.asarray(self.proba, dtype=float)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class _NoProba(_Stub):
    predict_proba = property()  # hasattr(...) is False, as for SVC(probability=False)

    def predict(self, X):
        return self.classes_[np.asarray(self.proba).argmax(axis=1)]


def _clip(style, seed, duration):
    return synthesize_demo_clip(style, seed, duration=duration)


# Clip A: 3 segments (9 s), clip B: 2 segments (6 s) of 3 s.
PROBA = [[0.9, 0.1], [0.4, 0.6], [0.4, 0.6],  # A: mean says "a", the vote says "b" (2 of 3)
         [0.9, 0.1], [0.2, 0.8]]              # B: 1 vote each; the mean (0.55) breaks the tie


@pytest.fixture(scope="module")
def two_clips():
    return [_clip("rock", 0, 9.0), _clip("solo", 1, 6.0)]


def test_fit_sees_every_segment_row_with_its_clips_label(two_clips):
    clf = SegmentClassifier(FeatureExtractor(stats=("mean", "std")), _Stub(PROBA))
    clf.fit(two_clips, ["a", "b"])
    want = [extract_features(y, stats=("mean", "std"), segment=3.0).drop(columns="segment")
            for y in two_clips]
    np.testing.assert_array_equal(clf.estimator_.X_fit_, np.concatenate(want))
    assert clf.estimator_.y_fit_.tolist() == ["a", "a", "a", "b", "b"]
    assert clf.n_segments_ == 5 and clf.classes_.tolist() == ["a", "b"]
    assert clf.extractor_ is not clf.extractor and not hasattr(clf.extractor, "n_features_out_")


def test_mean_and_vote_known_answers(two_clips):
    mean = SegmentClassifier(FeatureExtractor(), _Stub(PROBA)).fit(two_clips, ["a", "b"])
    np.testing.assert_allclose(mean.predict_proba(two_clips),
                               [[1.7 / 3, 1.3 / 3], [0.55, 0.45]])
    assert mean.predict(two_clips).tolist() == ["a", "a"]
    vote = SegmentClassifier(FeatureExtractor(), _Stub(PROBA), aggregate="vote")
    vote.fit(two_clips, ["a", "b"])
    np.testing.assert_array_equal(vote.predict_proba(two_clips), [[1 / 3, 2 / 3], [0.5, 0.5]])
    assert vote.predict(two_clips).tolist() == ["b", "a"]  # B's tie: the higher mean, "a"
    flipped = [[0.9, 0.1], [0.4, 0.6], [0.4, 0.6], [0.6, 0.4], [0.1, 0.9]]
    vote.set_params(estimator=_Stub(flipped)).fit(two_clips, ["a", "b"])
    assert vote.predict(two_clips).tolist() == ["b", "b"]  # B's tie: mean 0.35, "b"


def test_vote_without_predict_proba_and_mean_refused(two_clips):
    vote = SegmentClassifier(FeatureExtractor(), _NoProba(PROBA), aggregate="vote")
    np.testing.assert_array_equal(vote.fit(two_clips, ["a", "b"]).predict_proba(two_clips),
                                  [[1 / 3, 2 / 3], [0.5, 0.5]])
    assert vote.predict(two_clips).tolist() == ["b", "a"]  # no mean: the first class
    with pytest.raises(ModelError, match="predict_proba"):
        SegmentClassifier(FeatureExtractor(), SVC()).fit(two_clips, ["a", "b"])


def test_segment_hop_gives_overlapping_windows(two_clips):
    clf = SegmentClassifier(FeatureExtractor(), _Stub([[1.0, 0.0]] * 20), segment=3.0,
                            segment_hop=1.5)
    clf.fit(two_clips, ["a", "b"])
    n = [len(extract_features(y, segment=3.0, segment_hop=1.5)) for y in two_clips]
    assert clf.n_segments_ == sum(n) > 5


@pytest.mark.parametrize(("kwargs", "y", "error", "match"), [
    ({"aggregate": "median"}, ["a", "b"], ModelError, "aggregate"),
    ({}, ["a", "b", "c"], ModelError, "2 clips but 3 labels"),
    ({}, [[1, 2], [3, 4]], ModelError, "one label per clip"),
    ({"segment": -1.0}, ["a", "b"], FeatureError, "segment"),
    ({"extractor": "seed"}, ["a", "b"], ModelError, "FeatureExtractor"),
])
def test_bad_settings_are_refused(two_clips, kwargs, y, error, match):
    params = {"extractor": FeatureExtractor(), "estimator": LogisticRegression(), **kwargs}
    with pytest.raises(error, match=match):
        SegmentClassifier(**params).fit(two_clips, y)


def test_cross_val_score_with_artist_groups_and_grid_search():
    styles = ("symphony", "rock")
    clips = [_clip(s, seed, 6.0) for s in styles for seed in range(4)]
    y = np.repeat(styles, 4)
    groups = np.tile(np.arange(4), 2)  # an "artist" per seed, in both styles
    clf = SegmentClassifier(FeatureExtractor(stats=("mean", "std")),
                            make_pipeline(StandardScaler(), LogisticRegression()))
    scores = cross_val_score(clf, clips, y, groups=groups, cv=StratifiedGroupKFold(2),
                             error_score="raise")
    assert scores.shape == (2,) and scores.mean() > 0.5  # per clip; chance is 0.5
    params = clone(clf).get_params()
    assert params["segment"] == 3.0 and params["extractor__stats"] == ("mean", "std")
    search = GridSearchCV(clf, {"estimator__logisticregression__C": [0.1, 1.0]},
                          cv=StratifiedGroupKFold(2), error_score="raise")
    search.fit(clips, y, groups=groups)
    assert search.predict(clips[:1]).tolist() == ["symphony"]
