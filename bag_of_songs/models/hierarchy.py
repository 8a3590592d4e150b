"""Label hierarchies: coarse levels derived from a fine model, and answers that always agree.

CCMusic's levels nest (16 genres under 9 under Classic / Non_classic): a model of the fine
level also answers the coarse ones: the parent of its best fine class (:func:`decide_levels`,
so the levels never contradict each other, whatever the head's probabilities), each parent
scoring the sum of its children's probabilities (:func:`derive_proba`).

Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, hierarchy).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import label_columns
from ..errors import ModelError


def derive_hierarchy(table: pd.DataFrame, fine: str, coarse: str) -> dict[str, str] | None:
    """The parent (``coarse`` class) of every ``fine`` class, when the labels nest.

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, hierarchy).

    Parameters
    ----------
    table : pandas.DataFrame
        An annotations or feature table with both columns (e.g. the training split).
    fine, coarse : str
        Label columns, e.g. ``thr_level_label`` and ``fst_level_label``.

    Returns
    -------
    parents : dict fine class -> coarse class, or None
        None when some fine class occurs under two coarse classes (the levels do not nest),
        or when ``coarse`` does not have fewer classes than ``fine``.

    Examples
    --------
    >>> table = pd.DataFrame({"genre": ["Solo", "Symphony", "Rock", "Pop"],
    ...                       "family": ["Classic", "Classic", "Non_classic", "Non_classic"]})
    >>> derive_hierarchy(table, "genre", "family")
    {'Solo': 'Classic', 'Symphony': 'Classic', 'Rock': 'Non_classic', 'Pop': 'Non_classic'}
    >>> derive_hierarchy(table, "family", "genre") is None  # a coarse level has fewer classes
    True
    """
    if fine not in table.columns or coarse not in table.columns or fine == coarse:
        return None
    pairs = table[[fine, coarse]].dropna().astype(str).drop_duplicates()
    if pairs[fine].duplicated().any() or pairs[coarse].nunique() >= pairs[fine].nunique():
        return None
    return dict(zip(pairs[fine].to_numpy(), pairs[coarse].to_numpy(), strict=True))


def coarse_parents(table: pd.DataFrame, level: str) -> dict[str, dict[str, str]]:
    """Every coarser label level of ``table`` that ``level``'s classes determine.

    Parameters
    ----------
    table : pandas.DataFrame
    level : str

    Returns
    -------
    hierarchy : dict coarse level -> {class of ``level``: coarse class}
    """
    out = {}
    for other in label_columns(table):
        parents = derive_hierarchy(table, level, other)
        if parents is not None:
            out[other] = parents
    return out


def derive_proba(proba: np.ndarray, classes: list[str], parents: dict[str, str]
                 ) -> tuple[list[str], np.ndarray]:
    """Coarse-level probabilities from fine ones: each parent gets the sum of its children.

    So a song's levels always agree: the coarse class is the parent of the most probable
    *group* of fine classes, and a prediction is never "Classic" at one level and "Rock" at
    another when the fine prediction is read through the same hierarchy.

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, hierarchy).

    Parameters
    ----------
    proba : np.ndarray [shape=(n, n_fine)]
    classes : list of str [length n_fine]
    parents : dict fine class -> coarse class
        Must name every class in ``classes``.

    Returns
    -------
    coarse_classes : list of str
        Sorted.
    coarse_proba : np.ndarray [shape=(n, n_coarse)]
        Rows sum to what the fine rows summed to (1).

    Examples
    --------
    >>> derive_proba(np.array([[0.2, 0.1, 0.7]]), ["Solo", "Symphony", "Rock"],
    ...              {"Solo": "Classic", "Symphony": "Classic", "Rock": "Non_classic"})
    (['Classic', 'Non_classic'], array([[0.3, 0.7]]))
    """
    missing = [c for c in classes if c not in parents]
    if missing:
        raise ModelError(f"the hierarchy names no parent for class(es) {missing}")
    coarse = sorted(set(parents[c] for c in classes))
    M = np.zeros((len(classes), len(coarse)))
    for i, c in enumerate(classes):
        M[i, coarse.index(parents[c])] = 1.0
    return coarse, np.asarray(proba) @ M


def decide_levels(proba: np.ndarray, classes: list[str], hierarchy: dict[str, dict[str, str]],
                  *, level: str = "fine") -> dict[str, str]:
    """One answer per label level that always agree: the best fine class and its ancestors.

    The fine answer is the most probable fine class; every coarse level answers that class's
    parent. This holds for any head: a strongly regularised linear model whose probabilities
    stay near ``1 / n_classes`` still ranks the right fine class first, while the sum of a
    parent's children (:func:`derive_proba`) then mostly counts how many children it has. So a
    song is never "Classic" at one level and "Rock" at another, and the coarse answer is the
    one the fine model is most sure of: with Solo 0.23, Symphony 0.14 (Classic 0.37) against
    four Non_classic classes of 0.15-0.16 (0.63), the answers are Classic and Solo.

    Explained in ``notebooks/3-models-prediction.ipynb`` (section 5, hierarchy).

    Parameters
    ----------
    proba : np.ndarray [shape=(n_fine,)]
        One clip's fine-level probabilities.
    classes : list of str [length n_fine]
    hierarchy : dict level -> {fine class: parent}
        The coarse levels (e.g. ``model.hierarchy``).
    level : str
        The name of the fine level (e.g. ``model.label_column``).

    Returns
    -------
    answers : dict level -> class
        The coarse levels, coarsest first, then ``level``.

    Examples
    --------
    >>> parents = {"Solo": "Classic", "Symphony": "Classic", "Pop": "Non_classic",
    ...            "Rock": "Non_classic", "Dance": "Non_classic", "Indie": "Non_classic"}
    >>> decide_levels(np.array([0.23, 0.14, 0.15, 0.16, 0.16, 0.16]),
    ...               ["Solo", "Symphony", "Pop", "Rock", "Dance", "Indie"],
    ...               {"fst_level_label": parents}, level="sec_level_label")
    {'fst_level_label': 'Classic', 'sec_level_label': 'Solo'}
    """
    proba = np.asarray(proba, dtype=np.float64)
    best = classes[int(proba.argmax())]
    answers = {coarse: hierarchy[coarse][best]
               for coarse in sorted(hierarchy, key=lambda lv: len(set(hierarchy[lv].values())))}
    return {**answers, level: best}
