"""Splits: stratified, seeded train / validation / test splits, optionally keeping groups
(artists) whole. Re-exported by :mod:`bag_of_songs.data` (and, for old imports, by
:mod:`bag_of_songs.splits`).

Explained in ``notebooks/1-data-preparation.ipynb`` (section 3, stratified splits).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataSourceError

__all__ = ["parse_splits", "split_items", "split_groups", "read_groups"]


def parse_splits(spec: str | dict | None) -> dict[str, float]:
    """Parse ``"train=0.8,validation=0.1,test=0.1"`` into a dict of fractions summing to 1.

    The fractions are divided by their sum, so ``"train=8,test=2"`` gives 0.8 and 0.2.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 1: folder and demo sources are
    split 80 / 10 / 10).

    Parameters
    ----------
    spec : str, dict or None
        ``"NAME=FRACTION,..."``, a dict split name -> fraction, or None for the default
        ``{"train": 0.8, "validation": 0.1, "test": 0.1}``.

    Returns
    -------
    fractions : dict split name -> float
        In the order given; the values sum to 1.

    Raises
    ------
    ValueError
        On a part without ``=``, a split given twice, a fraction that is not a number, is
        negative or not finite, fractions that are all zero (or none at all), or a split name
        that is empty, holds ``/`` or starts with ``.``.
    Examples
    --------
    >>> parse_splits("train=8,test=2")
    {'train': 0.8, 'test': 0.2}
    """
    if spec is None:
        return {"train": 0.8, "validation": 0.1, "test": 0.1}
    if isinstance(spec, dict):
        fractions = {str(k): float(v) for k, v in spec.items()}
    else:
        fractions = {}
        for part in str(spec).split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise ValueError(f"bad split spec {part!r}: expected NAME=FRACTION")
            k, v = part.split("=", 1)
            if k.strip() in fractions:
                raise ValueError(f"bad split spec {spec!r}: split {k.strip()!r} given twice")
            try:
                fractions[k.strip()] = float(v)
            except ValueError:
                raise ValueError(f"bad split fraction {v!r} for {k.strip()!r}") from None
    if (not fractions or not all(math.isfinite(v) and v >= 0 for v in fractions.values())
            or sum(fractions.values()) <= 0):
        raise ValueError(f"bad split spec {spec!r}: fractions must be finite, >= 0 and not all "
                         "zero")
    if any(not k or "/" in k or k.startswith(".") for k in fractions):
        raise ValueError(f"bad split name in {spec!r}")
    total = sum(fractions.values())
    return {k: v / total for k, v in fractions.items()}


def split_items(labels: list[str], fractions: dict[str, float], *, seed: int = 0
                ) -> dict[str, list[int]]:
    """Stratified, seeded split of item indices.

    Each class is shuffled with the seed and cut by the fractions (largest remainder), so every
    split gets its share of every class that is large enough.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 3, stratified splits).

    Parameters
    ----------
    labels : list of str [length n]
        The stratification label of each item.
    fractions : dict split name -> fraction
    seed : int

    Returns
    -------
    splits : dict split name -> sorted list of indices

    Examples
    --------
    >>> parts = split_items(["rock"] * 8 + ["pop"] * 2, {"train": 0.5, "test": 0.5})
    >>> [len(v) for v in parts.values()]
    [5, 5]
    """
    rng = np.random.default_rng(seed)
    out = {k: [] for k in fractions}
    names = list(fractions)
    by_class: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_class.setdefault(lab, []).append(i)
    for lab in sorted(by_class):
        idx = np.array(by_class[lab])
        rng.shuffle(idx)
        n = len(idx)
        exact = np.array([fractions[k] * n for k in names])
        counts = np.floor(exact).astype(int)
        rest = n - counts.sum()
        # Largest remainder first; ties go to the split furthest below its share so far,
        # so that small classes do not all land in the same split.
        filled = [len(out[k]) / fractions[k] if fractions[k] > 0 else np.inf for k in names]
        order = sorted(range(len(names)), key=lambda j: (-(exact[j] - counts[j]), filled[j], j))
        for j in order[:rest]:
            counts[j] += 1
        start = 0
        for k, c in zip(names, counts, strict=True):
            out[k].extend(idx[start : start + c].tolist())
            start += c
    return {k: sorted(v) for k, v in out.items()}


def split_groups(labels: list[str], groups: list[str], fractions: dict[str, float], *,
                 seed: int = 0) -> dict[str, list[int]]:
    """Seeded split that keeps every group (e.g. an artist) whole, stratified by class.

    Clips of one artist in both training and test splits flatter every model; this split puts
    each group in exactly one split. Each group counts for its most common label; within a
    class, groups are shuffled with the seed and, largest first, each goes to the split
    furthest below its share of that class.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 3, stratified splits).

    Parameters
    ----------
    labels : list of str [length n]
        The stratification label of each item.
    groups : list of str [length n]
        The group of each item.
    fractions : dict split name -> fraction
    seed : int

    Returns
    -------
    splits : dict split name -> sorted list of indices
    """
    if len(labels) != len(groups):
        raise ValueError(f"{len(labels)} labels but {len(groups)} groups")
    rng = np.random.default_rng(seed)
    names = [k for k in fractions if fractions[k] > 0]
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(str(g), []).append(i)
    group_label = {}
    for g, idx in members.items():
        values, counts = np.unique([labels[i] for i in idx], return_counts=True)
        group_label[g] = str(values[np.argmax(counts)])
    out: dict[str, list[int]] = {k: [] for k in fractions}
    for lab in sorted(set(group_label.values())):
        gs = [str(g) for g in rng.permutation(sorted(g for g in group_label
                                                     if group_label[g] == lab))]
        gs.sort(key=lambda g: -len(members[g]))  # stable: equal sizes keep the seeded order
        total = sum(len(members[g]) for g in gs)
        got = dict.fromkeys(names, 0)
        for g in gs:
            k = max(names, key=lambda k: (fractions[k] * total - got[k], fractions[k]))
            got[k] += len(members[g])
            out[k].extend(members[g])
    return {k: sorted(v) for k, v in out.items()}


def read_groups(manifest: str | os.PathLike, *, group_column: str) -> dict[str, str]:
    """Map each clip's path (relative to the folder) to its group, from a manifest CSV.

    Parameters
    ----------
    manifest : path-like
        A CSV with a ``path`` column (relative to the genre folders' root, e.g.
        ``rock/001.mp3``) and ``group_column``.
    group_column : str
        E.g. ``artist``.

    Returns
    -------
    groups : dict path -> group
    """
    manifest = Path(manifest)
    if not manifest.exists():
        raise DataSourceError(f"{manifest}: no manifest to read groups from")
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    missing = [c for c in ("path", group_column) if c not in df.columns]
    if missing:
        raise DataSourceError(f"{manifest}: no column(s) {missing} (columns: {list(df.columns)})")
    return dict(zip(df["path"].to_numpy(), df[group_column].to_numpy(), strict=True))


def _validate_split_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"invalid split name {name!r}")


def _stratify_column(labels: list[dict], fractions: dict[str, float]) -> str:
    """The finest label level whose classes are all large enough to reach every split.

    A class needs about ``1 / min(fraction)`` members to put one in the smallest split; when the
    finest level has smaller classes (a tiny corpus), stratify on a coarser one instead, so that
    every split still gets every coarse class.
    """
    present = [c for c in ("thr_level_label", "label", "sec_level_label", "fst_level_label")
               if labels and c in labels[0]]
    if not present:
        return next(iter(labels[0])) if labels and labels[0] else "label"
    smallest = min((f for f in fractions.values() if f > 0), default=1.0)
    need = int(np.ceil(1.0 / smallest - 1e-9))
    for c in present:
        counts: dict[str, int] = {}
        for lab in labels:
            counts[lab.get(c, "")] = counts.get(lab.get(c, ""), 0) + 1
        if min(counts.values()) >= need:
            return c
    return present[-1]
