"""Hugging Face sources and CCMusic: the code lives in
:mod:`bag_of_songs.data.sources.hub` (any dataset, :func:`probe_hub`) and
:mod:`bag_of_songs.data.sources.ccmusic`.

This module re-exports their names under the name other modules and tests have imported so
far (``from bag_of_songs.hub import probe_hub``); prefer ``from bag_of_songs.data import ...``
(or ``bag_of_songs.data.sources`` for :func:`probe_hub` and :class:`HubStatus`). Replacing a
name here changes nothing: patch it where it is looked up, e.g.
``monkeypatch.setattr(bag_of_songs.data.sources.hub, "probe_hub", ...)``.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 1).
"""

from __future__ import annotations

from .data.sources.ccmusic import (
    CCMUSIC_ID,
    CCMUSIC_REVISIONS,
    list_ccmusic_folder,
    load_ccmusic,
)
from .data.sources.hub import (
    HUB_ENDPOINT,
    HubStatus,
    hf_items,
    load_hf_dataset,
    looks_like_hf_folder,
    probe_hub,
)

__all__ = [
    "HUB_ENDPOINT",
    "HubStatus",
    "probe_hub",
    "CCMUSIC_ID",
    "CCMUSIC_REVISIONS",
    "load_hf_dataset",
    "load_ccmusic",
    "list_ccmusic_folder",
    "looks_like_hf_folder",
    "hf_items",
]
