"""Stratified, seeded, group-aware splits: the code lives in :mod:`bag_of_songs.data.splits`.

This module re-exports its names under the name other modules and tests have imported so far
(``from bag_of_songs.splits import split_items``); prefer ``from bag_of_songs.data import ...``.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 3, stratified splits).
"""

from __future__ import annotations

from .data.splits import parse_splits, read_groups, split_groups, split_items

__all__ = ["parse_splits", "split_items", "split_groups", "read_groups"]
