"""Texture windows as a scikit-learn classifier of clips: fit on segments, decide per clip.

:class:`SegmentClassifier` cuts every clip into segments (``segment`` seconds, every
``segment_hop`` seconds), fits a classifier on the segments' rows (each with its clip's label)
and decides a clip from its segments: the mean of their probabilities, or their votes. Its
``fit`` and ``predict`` take clips (paths or signals), so ``cross_val_score`` with artist
groups keeps a clip's segments, and an artist's clips, on one side of each fold, and scores
clips, not segments.

Explained in ``notebooks/3-models-prediction.ipynb`` (texture windows); segment rows in
``notebooks/2-features-explanation.ipynb``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ..errors import ModelError
from ..features.sklearn import FeatureExtractor

__all__ = ["SegmentClassifier", "AGGREGATES"]

#: How a clip is decided from its segments.
AGGREGATES = ("mean", "vote")


class SegmentClassifier(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """A classifier of clips that learns from their segments (texture windows).

    ``fit(X, y)`` extracts every clip's segment rows with the settings of ``extractor``
    (:meth:`FeatureExtractor.extract_segments`, i.e.
    :func:`bag_of_songs.features.extract_features` with ``segment`` and ``segment_hop``), and
    fits a clone of ``estimator`` on all of them, each row labelled with its clip's label. A
    clip's probabilities are the mean of its segments' ``predict_proba`` (``aggregate="mean"``)
    or the fraction of its segments ``estimator`` predicts as each class (``"vote"``; a tie in
    :meth:`predict` goes to the class with the higher mean probability when ``estimator`` has
    ``predict_proba``, else to the first class). ``predict`` returns labels, ``score`` the
    accuracy over clips.

    Explained in ``notebooks/3-models-prediction.ipynb`` (texture windows).

    Parameters
    ----------
    extractor : FeatureExtractor
        The feature settings and ``n_jobs`` (cloned, never changed).
    estimator : classifier
        Any scikit-learn classifier or :class:`~sklearn.pipeline.Pipeline` over feature rows
        (cloned); it needs ``predict_proba`` with ``aggregate="mean"``.
    segment : float
        Segment length in seconds.
    segment_hop : float, optional
        Seconds between segment starts (default ``segment``: segments side by side).
    aggregate : {"mean", "vote"}
        How a clip is decided from its segments.

    Attributes
    ----------
    extractor_ : FeatureExtractor
        The fitted clone of ``extractor``.
    estimator_ : classifier
        The clone of ``estimator`` fitted on the segment rows.
    classes_ : np.ndarray [shape=(n_classes,)]
        The labels, in the order of :meth:`predict_proba`'s columns.
    n_segments_ : int
        Segment rows it was fitted on.

    Examples
    --------
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> from bag_of_songs.features.sklearn import FeatureExtractor
    >>> from sklearn.linear_model import LogisticRegression
    >>> clips = [synthesize_demo_clip(s, i, duration=6.0) for s in ("rock", "solo")
    ...          for i in range(2)]
    >>> y = ["rock", "rock", "solo", "solo"]
    >>> clf = SegmentClassifier(FeatureExtractor(), LogisticRegression()).fit(clips, y)
    >>> clf.n_segments_, clf.predict_proba(clips).shape
    (8, (4, 2))
    """

    def __init__(self, extractor, estimator, segment=3.0, segment_hop=None, aggregate="mean"):
        self.extractor = extractor
        self.estimator = estimator
        self.segment = segment
        self.segment_hop = segment_hop
        self.aggregate = aggregate

    def fit(self, X, y):
        """Fit a clone of ``estimator`` on the segments of the clips ``X``.

        Parameters
        ----------
        X : list of paths or signals
            The clips, as :meth:`FeatureExtractor.transform` takes them.
        y : array-like [shape=(n_clips,)]
            Each clip's label.

        Returns
        -------
        self : SegmentClassifier

        Raises
        ------
        ModelError
            On an ``extractor`` that is not a :class:`FeatureExtractor`, an unknown
            ``aggregate``, labels that do not match the clips, or ``aggregate="mean"`` with an
            estimator without ``predict_proba``.
        FeatureError, AudioLoadError
            On a bad setting or segment length, or a clip that cannot be read (named).
        """
        if not isinstance(self.extractor, FeatureExtractor):
            raise ModelError(f"extractor must be a FeatureExtractor, got "
                             f"{type(self.extractor).__name__}")
        if self.aggregate not in AGGREGATES:
            raise ModelError(f"unknown aggregate {self.aggregate!r}; choose 'mean' or 'vote'")
        y = np.asarray(y)
        if y.ndim != 1:
            raise ModelError(f"y must hold one label per clip, got shape {y.shape}")
        check_classification_targets(y)
        try:
            n_clips = len(X)
        except TypeError:
            raise ModelError(f"X must be a list of clips (paths or signals), got "
                             f"{type(X).__name__}") from None
        if n_clips != len(y):
            raise ModelError(f"{n_clips} clips but {len(y)} labels")
        extractor = clone(self.extractor).fit(X)
        rows, clip = extractor.extract_segments(X, segment=self.segment,
                                                segment_hop=self.segment_hop)
        estimator = clone(self.estimator).fit(rows, y[clip])
        if self.aggregate == "mean" and not hasattr(estimator, "predict_proba"):
            raise ModelError(f"aggregate='mean' needs an estimator with predict_proba; "
                             f"{type(estimator).__name__} has none (use aggregate='vote', or "
                             f"e.g. SVC(probability=True))")
        self.extractor_ = extractor
        self.estimator_ = estimator
        self.classes_ = np.asarray(estimator.classes_)
        self.n_segments_ = len(rows)
        return self

    def _clip_scores(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Per clip: the probabilities, and the mean probabilities that break a vote's tie."""
        check_is_fitted(self, "estimator_")
        rows, clip = self.extractor_.extract_segments(X, segment=self.segment,
                                                      segment_hop=self.segment_hop)
        n_clips, n_classes = clip[-1] + 1, len(self.classes_)
        counts = np.bincount(clip, minlength=n_clips)[:, None]
        mean = np.zeros((n_clips, n_classes))
        if hasattr(self.estimator_, "predict_proba"):
            np.add.at(mean, clip, self.estimator_.predict_proba(rows))
            mean /= counts
        if self.aggregate == "mean":
            return mean, mean
        column = {c: j for j, c in enumerate(self.classes_.tolist())}
        votes = np.zeros((n_clips, n_classes))
        np.add.at(votes, (clip, [column[c] for c in self.estimator_.predict(rows).tolist()]),
                  1.0)
        return votes / counts, mean

    def predict_proba(self, X) -> np.ndarray:
        """Each clip's class probabilities, from its segments.

        Parameters
        ----------
        X : list of paths or signals

        Returns
        -------
        proba : np.ndarray [shape=(n_clips, n_classes)]
            Columns in the order of :attr:`classes_`; each row sums to 1. With ``"vote"``,
            the fraction of the clip's segments predicted as each class.
        """
        return self._clip_scores(X)[0]

    def predict(self, X) -> np.ndarray:
        """Each clip's label: the class of highest :meth:`predict_proba` (ties: see above).

        Parameters
        ----------
        X : list of paths or signals

        Returns
        -------
        labels : np.ndarray [shape=(n_clips,)]
        """
        score, tie = self._clip_scores(X)
        best = score == score.max(axis=1, keepdims=True)
        return self.classes_[np.where(best, tie, -np.inf).argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # paths
        return tags
