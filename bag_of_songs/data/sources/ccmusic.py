"""CCMusic, the study's corpus: from the hub at a revision that still has its audio, from a
local ``save_to_disk`` copy, or from the songs of its ``audio.zip`` once extracted.

CCMusic's raw audio is no longer on the hub's ``main`` branch: :func:`load_ccmusic` tries the
revisions known to carry its loading script (:data:`CCMUSIC_REVISIONS`), newest first, says
which one loaded, and when none does, ends with every attempt's reason and the ways out. A
local copy works too: a ``save_to_disk`` folder (e.g. from ModelScope), or the songs of its
``audio.zip`` once extracted (numbered genre folders, read by :func:`list_ccmusic_folder`).
Re-exported by :mod:`bag_of_songs.data` (and, for old imports, by :mod:`bag_of_songs.hub`).

Explained in ``notebooks/1-data-preparation.ipynb`` (section 1).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from ..._logging import forward_records
from ...errors import DataSourceError
from ..labels import CLASS_ALIASES, LEVELS
from .base import Item
from .folder import list_folder_items
from .hub import _audio_column, load_hf_dataset

logger = logging.getLogger(__name__)

__all__ = [
    "CCMUSIC_ID",
    "CCMUSIC_REVISIONS",
    "load_ccmusic",
    "list_ccmusic_folder",
]

#: CCMusic's dataset id on the Hugging Face hub (and on ModelScope).
CCMUSIC_ID = "ccmusic-database/music_genre"

#: Hub revisions of CCMusic whose loading script ``music_genre.py`` has the raw-audio
#: ``default`` config (an ``audio`` column and the three levels), newest first. Read from
#: stored copies of the hub's commit pages; the last two belong to a history that may have
#: been rewritten. :func:`load_ccmusic` tries them in this order when no revision is given.
CCMUSIC_REVISIONS = (
    "7dc547f34dfc3bfb568c02c26d52c8a7ed998d47",
    "a78bf7981b8530f31c1d1af985c5b81c8923c5b9",
    "002697b76f728c8087ce6c840848ed03a4d66c55",
    "d10fa91de66d8ec3fdcd35ffe2f9f8405ff099a7",
)


_CCMUSIC_WAYS_OUT = (
    "The hub's main branch of ccmusic-database/music_genre now serves only an 'eval' config of "
    "spectrogram images, without audio. Ways out: (1) pass --revision with a revision that "
    "still has the loading script music_genre.py (needs datasets<4 and trust_remote_code); "
    "(2) download the 'default' subset from ModelScope (ccmusic-database/music_genre, "
    "MsDataset.load(..., subset_name='default')), save it with save_to_disk and pass that "
    "folder with --dataset-path; (3) download ModelScope's data/audio.zip, extract it and pass "
    "the extracted folder (numbered genre folders 1_Classic/3_Symphony/...) with "
    "--dataset-path; (4) arrange a local copy of the songs as a folder of genre subfolders "
    "and prepare that folder."
)


def _check_ccmusic(dsdict) -> None:
    if _audio_column(dsdict) is None:
        cols = list(next(iter(dsdict.values())).features)
        raise DataSourceError(
            f"the CCMusic dataset that loaded has no audio column (columns: {cols})")
    missing = [lv for lv in LEVELS if lv not in next(iter(dsdict.values())).features]
    if missing:
        raise DataSourceError(f"the CCMusic dataset lacks the label column(s) {missing}")


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= limit else line[: limit - 3] + "..."


def load_ccmusic(*, revision: str | None = None, path: str | os.PathLike | None = None,
                 log: Callable[[str], None] | None = None):
    """Load CCMusic's raw-audio ``music_genre`` corpus (``default`` subset) as a ``DatasetDict``.

    As in the original study: ``datasets.load_dataset("ccmusic-database/music_genre",
    name="default", trust_remote_code=True, revision=...)``. With no ``revision``, the
    revisions of :data:`CCMUSIC_REVISIONS` are tried in order (the hub's ``main`` branch has no
    audio any more) and an ``INFO`` line says which one loaded. With ``path``, a local copy of
    the same schema (a ``save_to_disk`` folder, e.g. from ModelScope).

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 1).

    Parameters
    ----------
    revision : str, optional
        A hub revision that still has the loading script ``music_genre.py`` (needs
        ``datasets<4``); only this one is tried. Not used with ``path``.
    path : path-like, optional
        A local copy of the ``default`` subset (a ``save_to_disk`` folder). For the extracted
        ``audio.zip`` (genre folders) use :func:`list_ccmusic_folder`, or ``prepare("ccmusic",
        dataset_path=...)``, which chooses.
    log : callable, optional
        Deprecated: attach a handler to the ``bag_of_songs`` logger instead. Receives the
        package's log lines (``INFO`` and up: one per revision tried and the one that loaded)
        while this call runs.

    Returns
    -------
    dsdict : datasets.DatasetDict
        CCMusic's splits, with an audio column and the three label levels of :data:`LEVELS`.

    Raises
    ------
    DataSourceError
        When it cannot be loaded, or when what loads has no audio column (the hub's ``main``
        branch now serves only spectrogram images), or a label level is missing. The message
        gives each revision's reason and names the ways out.
    """
    with forward_records(log):
        return _load_ccmusic(revision=revision, path=path)[0]


def _load_ccmusic(*, revision, path) -> tuple:
    """:func:`load_ccmusic`, also returning the revision that loaded (None for ``path``)."""
    if path is not None:
        try:
            dsdict = load_hf_dataset(path)
            _check_ccmusic(dsdict)
        except DataSourceError as exc:
            raise DataSourceError(f"{exc}\n{_CCMUSIC_WAYS_OUT}") from exc
        return dsdict, None
    revisions = [revision] if revision else list(CCMUSIC_REVISIONS)
    attempts = []
    for rev in revisions:
        if len(revisions) > 1:
            logger.info(f"ccmusic: trying revision {rev} ...")
        try:
            dsdict = load_hf_dataset(CCMUSIC_ID, name="default", revision=rev,
                                     trust_remote_code=True)
            _check_ccmusic(dsdict)
        except DataSourceError as exc:
            attempts.append((rev, _first_line(str(exc))))
            continue
        if len(revisions) > 1:
            logger.info(f"ccmusic: loaded revision {rev}")
        return dsdict, rev
    if len(attempts) == 1:
        rev, reason = attempts[0]
        raise DataSourceError(f"CCMusic at revision {rev!r}: {reason}\n{_CCMUSIC_WAYS_OUT}")
    tried = "\n".join(f"  revision {rev}: {reason}" for rev, reason in attempts)
    raise DataSourceError(
        f"CCMusic could not be loaded from any of the {len(attempts)} known revisions with its "
        f"audio:\n{tried}\n{_CCMUSIC_WAYS_OUT}")


def list_ccmusic_folder(path: str | os.PathLike, *, notes: list[str] | None = None
                        ) -> list[Item]:
    """The songs of CCMusic's ``audio.zip``, extracted, as items with the three levels.

    The archive nests numbered genre folders, ``1_Classic/3_Symphony/<song>`` and
    ``2_Non_classic/5_Pop/9_Teen_pop/<song>``: the numbers are stripped, the classical classes
    reuse their second-level name at the third level (as CCMusic's labels do), and the old
    spelling ``Soul_or_r_and_b`` reads as ``Soul_or_RnB``. A folder that holds only one
    folder (the archive's top folder) is entered.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 1).

    Parameters
    ----------
    path : path-like
        The extracted archive.
    notes : list, optional
        Receives one line per empty folder that was ignored.

    Returns
    -------
    items : list of Item
        Labelled with :data:`LEVELS`.

    Raises
    ------
    DataSourceError
        When ``path`` is the zip file itself, or does not have the archive's layout.
    """
    root = Path(path)
    if root.is_file() and root.suffix.lower() == ".zip":
        raise DataSourceError(f"{root}: extract the archive first (e.g. `unzip {root.name} -d "
                              f"ccmusic_audio`) and pass the extracted folder")
    if not root.is_dir():
        raise DataSourceError(f"{root}: no such folder")
    while True:  # the archive's own top folder(s), e.g. audio/
        entries = [p for p in root.iterdir() if not p.name.startswith(".")]
        if len(entries) == 1 and entries[0].is_dir():
            root = entries[0]
        else:
            break
    items = list_folder_items(root, levels=LEVELS, aliases=CLASS_ALIASES, notes=notes)
    coarse = {it.labels["fst_level_label"] for it in items}
    if not coarse <= {"Classic", "Non_classic"}:
        raise DataSourceError(
            f"{root}: not the layout of CCMusic's audio.zip (first-level folders should be "
            f"Classic and Non_classic, numbered or not; found {sorted(coarse)}). For other "
            f"nested folders prepare the folder itself with levels=")
    return items
