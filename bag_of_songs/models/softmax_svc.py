"""The fallback of a calibrated SVC for tiny classes: :class:`_SoftmaxSVC`.

When a class has too few rows (or groups) for the sigmoid calibration's inner folds, an SVC's
probabilities are the softmax of its decision function instead
(:func:`bag_of_songs.models.baselines.fit_svc`). Saved models hold it under the name
``bag_of_songs.models._SoftmaxSVC``.
"""

from __future__ import annotations

import numpy as np


class _SoftmaxSVC:
    """Fallback for tiny classes: an SVC's (RBF or linear) decision function, as a softmax."""

    def __init__(self, svc):
        self.svc = svc

    # get_params / set_params as scikit-learn's estimators have them (so GridSearchCV can clone
    # it and set svc__C), without BaseEstimator, whose pickled state would differ from the
    # saved models' (skops files record this object's attributes).
    def get_params(self, deep: bool = True) -> dict:
        out = {"svc": self.svc}
        if deep:
            out.update({f"svc__{k}": v for k, v in self.svc.get_params().items()})
        return out

    def __sklearn_tags__(self):  # a classifier, as the SVC it wraps
        return self.svc.__sklearn_tags__()

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "classes_")

    def set_params(self, **params):
        if "svc" in params:
            self.svc = params.pop("svc")
        self.svc.set_params(**{k.removeprefix("svc__"): v for k, v in params.items()})
        return self

    def fit(self, X, y):
        self.svc.fit(X, y)
        self.classes_ = self.svc.classes_
        return self

    def predict(self, X):
        return self.svc.predict(X)

    def predict_proba(self, X):
        d = self.svc.decision_function(X)
        if d.ndim == 1:
            d = np.stack([-d, d], axis=1)
        e = np.exp(d - d.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


# Saved scikit-learn models name the class by module and name (skops), and the allow-list of
# bag_of_songs.models.safety pins "bag_of_songs.models._SoftmaxSVC": it keeps the name it had
# before the package split, so that files saved before and after load alike.
_SoftmaxSVC.__module__ = "bag_of_songs.models"
