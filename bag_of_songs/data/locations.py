"""Where prepared data and figures live by default: ``$BAG_OF_SONGS_DATA_DIR`` and
``$BAG_OF_SONGS_IMG_DIR``, else ``ccmusic/`` and ``img/`` in the repository checkout.

Re-exported by :mod:`bag_of_songs.data`.

Explained in ``notebooks/1-data-preparation.ipynb`` (its parameters cell).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_data_dir", "default_img_dir"]


def _project_dir() -> Path:
    """The repository checkout the package runs from, or the working directory otherwise."""
    root = Path(__file__).resolve().parents[2]  # bag_of_songs/data/locations.py -> checkout
    return root if (root / "pyproject.toml").exists() else Path.cwd()


def default_data_dir() -> Path:
    """Where prepared data lives by default: ``$BAG_OF_SONGS_DATA_DIR``, else ``ccmusic/`` in
    the repository checkout (or in the working directory for a non-editable install).

    Explained in ``notebooks/1-data-preparation.ipynb`` (its parameters cell, ``DATA_DIR``).
    """
    env = os.environ.get("BAG_OF_SONGS_DATA_DIR")
    return Path(env).expanduser() if env else _project_dir() / "ccmusic"


def default_img_dir() -> Path:
    """Where figures are saved by default: ``$BAG_OF_SONGS_IMG_DIR``, else ``img/`` beside
    ``ccmusic/``.

    Explained in ``notebooks/1-data-preparation.ipynb`` (its parameters cell, ``IMG_DIR``).
    """
    env = os.environ.get("BAG_OF_SONGS_IMG_DIR")
    return Path(env).expanduser() if env else _project_dir() / "img"
