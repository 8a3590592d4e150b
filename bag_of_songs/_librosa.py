"""librosa, imported once per process with its numba caches filled one process at a time.

librosa compiles its numba kernels with ``cache=True``, and several of them are
``guvectorize`` functions with fixed signatures (``util.localmax``, ``util.localmin``,
``zero_crossings``, the parabolic interpolation of ``piptrack``), compiled or read from the
cache when their module is first imported. Each of those writes *two* cache files, and numba
writes them without making the pair atomic (numba issue 10128): when several processes fill
an empty cache at once (the workers of a fresh install, each importing librosa for the first
time), a process can later read a kernel from one writer and its wrapper from another, and
crash with a segmentation fault.

:func:`load_librosa` is the one place the package imports librosa. The first call in a process
takes an inter-process lock (:class:`filelock.FileLock`, one per user and librosa install) and
imports the submodules that hold those kernels while holding it, so the caches are written by
one process at a time and only read afterwards; later calls return the module at once. When
the lock cannot be taken (a read-only temporary folder, a link or another user's file
planted where the lock file goes, ten minutes of waiting), librosa is imported without it, as it would have been anyway.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import stat
import sys
import tempfile
from pathlib import Path
from types import ModuleType

__all__ = ["load_librosa", "numba_cache_lock_path"]

logger = logging.getLogger(__name__)

#: The submodules whose import compiles (or reads from the cache) librosa's numba kernels,
#: among them every one the package reaches: features, resampling, plots.
NUMBA_SUBMODULES = ("librosa.util.utils", "librosa.core.audio", "librosa.core.pitch",
                    "librosa.core", "librosa.feature", "librosa.onset", "librosa.filters")

#: Seconds to wait for another process filling the caches before importing without the lock.
LOCK_TIMEOUT = 600.0

_loaded: ModuleType | None = None


def numba_cache_lock_path() -> Path:
    """The lock file that serialises filling librosa's numba caches, for this user and install.

    Returns
    -------
    path : pathlib.Path
        In the temporary folder, named after the user and a digest of where librosa is
        installed and where numba caches (``NUMBA_CACHE_DIR``), so processes that share a
        cache share the lock.

    Examples
    --------
    >>> numba_cache_lock_path().name.startswith("bag-of-songs-numba-")
    True
    """
    spec = importlib.util.find_spec("librosa")
    where = f"{spec.origin if spec else ''}|{os.environ.get('NUMBA_CACHE_DIR', '')}"
    digest = hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"bag-of-songs-numba-{uid}-{digest}.lock"


def _check_not_planted(path: Path) -> None:
    """Refuse (OSError) a lock file someone else made: another user's file, which they could
    hold to keep us waiting, or anything that is not a regular file (a link is never followed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode) or hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise OSError(f"{path} is not a regular file of this user")


def _import_submodules() -> ModuleType:
    for name in NUMBA_SUBMODULES:
        importlib.import_module(name)
    return importlib.import_module("librosa")


def load_librosa() -> ModuleType:
    """Import librosa, its numba-backed submodules filled into the cache under a lock.

    Returns
    -------
    librosa : module

    Examples
    --------
    >>> librosa = load_librosa()
    >>> float(librosa.hz_to_midi(440.0))
    69.0
    """
    global _loaded
    if _loaded is not None:
        return _loaded
    if all(name in sys.modules for name in NUMBA_SUBMODULES):
        _loaded = sys.modules["librosa"]  # imported already (by the user, or a plot module)
        return _loaded
    from filelock import FileLock, Timeout  # deferred: only the first call needs it

    path = numba_cache_lock_path()
    try:
        _check_not_planted(path)
        lock = FileLock(str(path), timeout=LOCK_TIMEOUT, mode=0o600, fallback_to_soft=False)
        with lock:
            _loaded = _import_submodules()
    except (OSError, Timeout) as exc:
        logger.debug("librosa imported without the numba cache lock %s: %s", path, exc)
        _loaded = _import_submodules()
    return _loaded
