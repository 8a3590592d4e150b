"""The synthetic demo corpus: the code lives in :mod:`bag_of_songs.data.sources.demo`.

This module re-exports its names under the name other modules, docstring examples and tests
have imported so far (``from bag_of_songs.demo import synthesize_demo_clip``). Replacing a
name here changes nothing: patch it in its new home.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 1, the ``demo`` source).
"""

from __future__ import annotations

from .data.sources.demo import DEMO_STYLES, DEMO_VERSION, list_demo_items, synthesize_demo_clip

__all__ = ["DEMO_VERSION", "DEMO_STYLES", "synthesize_demo_clip", "list_demo_items"]
