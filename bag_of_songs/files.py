"""Safe files: atomic writes, a lock on an output folder, and stamps that tie outputs to sources.

Every file the package writes goes through :func:`atomic_write` (a temporary file beside the
target, then a rename), so a reader never sees a half-written file and a killed run leaves at
most a hidden ``.NAME.<random>.tmp`` that the next run removes. :func:`lock_folder` keeps two
runs from writing into one folder at once. Re-exported by :mod:`bag_of_songs.data`.

The folder lock is :class:`filelock.FileLock` (``flock`` on POSIX, ``LockFileEx`` on Windows),
with ``blocking=False`` (refuse at once), ``preserve_lock_file=True`` (the file is never
deleted) and ``fallback_to_soft=False``: where the file system has no ``flock``, filelock would
otherwise fall back to a marker file of its own (its record in place of the holder's note,
deleted on release), whose recovery after a ``kill -9`` rests on judging the holder dead rather
than on the system releasing the lock; here that is an error instead. filelock (4.x) opens the lock file with ``O_NOFOLLOW``
and ``O_NONBLOCK`` and never writes into it; the ``on_acquired`` callback checks what it
locked (a regular file with no other hard link) before writing the holder's note, and a
refusal there makes filelock release the lock again. A symbolic link (even a dangling one) is
refused by the open itself, before anything is created or written.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 5: writes are atomic).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pandas as pd
from filelock import FileLock, Timeout

from ._constants import LOCK_NAME
from .errors import FolderLockedError

__all__ = [
    "LOCK_NAME",
    "FolderLockedError",
    "atomic_write",
    "write_csv_atomic",
    "write_bytes_atomic",
    "lock_folder",
    "file_stamp",
    "sha256_file",
    "remove_stale_temp_files",
]




def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits (read in 1 MiB chunks).

    What ties derived files to their sources: ``features.json`` to ``annotations.csv`` and
    ``features.csv``, a spectrogram cache to its annotations, ``model.json`` to its weights.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _proc_umask() -> int | None:
    """The process umask from ``/proc/self/status`` (Linux), or None where it is not there."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _umask_once() -> int:
    mask = _proc_umask()
    if mask is None:  # the only other way to read it is to set it: done once, at import
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_AT_IMPORT = _umask_once()
_HAVE_PROC_UMASK = _proc_umask() is not None


def _umask() -> int:
    """The process umask, read without changing it (a change would race with other threads).

    Read from ``/proc/self/status`` where the system has it (so a later ``os.umask`` call is
    seen), else the value read once when this module was imported.
    """
    if _HAVE_PROC_UMASK:
        mask = _proc_umask()
        if mask is not None:
            return mask
    return _UMASK_AT_IMPORT


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], suffix: str = ".tmp"
                 ) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``.

    Readers never see a half-written file; on any error the temporary file is removed. The
    temporary file is named ``.<name>.<random><suffix>`` (hidden), so that a run killed before
    the rename leaves debris that :func:`remove_stale_temp_files` recognises.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 5: writes are atomic).

    Parameters
    ----------
    path : path-like
        The file to write (its folder is created when missing).
    write : callable
        Receives the temporary path and writes the whole content there.
    suffix : str
        Ending of the temporary name (e.g. ``".csv.tmp"``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes 0600: give the usual permissions, as open() with the umask would
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_bytes_atomic(data: bytes, path: str | os.PathLike, suffix: str = ".tmp") -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`).

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 5: writes are atomic).
    """
    atomic_write(Path(path), lambda tmp: Path(tmp).write_bytes(data), suffix)


def csv_bytes(df: pd.DataFrame) -> bytes:
    """The bytes :func:`write_csv_atomic` writes for ``df`` (no index, ``\\n`` line ends)."""
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def write_csv_atomic(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a DataFrame as CSV through a temporary file and a rename (never half-written).

    No index column, UTF-8, ``\\n`` line ends: the same table always gives the same bytes.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 5: writes are atomic).
    """
    write_bytes_atomic(csv_bytes(df), path, ".csv.tmp")


def remove_stale_temp_files(folder: str | os.PathLike, names: Iterable[str]) -> list[Path]:
    """Delete the temporary files that a killed :func:`atomic_write` left for ``names``.

    Only hidden files named ``.<name>.<random>...tmp`` for one of ``names`` (exact file names,
    or patterns with ``*``, e.g. ``"audio_train_*.wav"``) match; nothing else is touched.

    Parameters
    ----------
    folder : path-like
        Where the outputs live (a missing folder holds nothing to clean).
    names : iterable of str
        The output file names (or ``*`` patterns) whose debris to remove.

    Returns
    -------
    removed : list of Path
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    patterns = [re.compile(r"\." + re.escape(n).replace(r"\*", r"[^/]*") + r"\.[^/]*tmp")
                for n in names]
    removed = []
    for p in folder.iterdir():
        if (p.name.startswith(".") and p.name.endswith("tmp")
                and any(pat.fullmatch(p.name) for pat in patterns) and p.is_file()):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def file_stamp(path: str | os.PathLike) -> str:
    """A short stamp that changes when a file is replaced or edited: its size and mtime.

    ``prepare`` records it per clip (the ``source_stamp`` column) and prepares a clip again
    when its source's stamp differs.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 5: resume).

    Returns
    -------
    stamp : str
        ``"size=<bytes>;mtime_ns=<ns>"`` (of the target of a symbolic link), or ``""`` when the
        file cannot be read.
    """
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return f"size={st.st_size};mtime_ns={st.st_mtime_ns}"


# ---------------------------------------------------------------------------------------------
# Folder lock

_held: dict[str, list] = {}  # resolved folder -> [lock, depth, what]
_held_guard = threading.Lock()


def _lock_holder(lock_path: Path) -> str:
    """The note the holding run wrote into the lock file, read without following a link and
    only from a regular file (a FIFO or a device is never read)."""
    flags = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_NONBLOCK", 0))
    try:
        fd = os.open(lock_path, flags)
    except OSError:
        return ""
    try:
        text = (os.read(fd, 200).decode(errors="replace").strip()
                if stat.S_ISREG(os.fstat(fd).st_mode) else "")
    except OSError:
        text = ""
    finally:
        os.close(fd)
    return f" ({text})" if text else ""


def _symlink_error(lock_path: Path) -> FolderLockedError | None:
    if not os.path.islink(lock_path):
        return None
    try:
        target = f" (to {os.readlink(lock_path)})"
    except OSError:
        target = ""
    return FolderLockedError(
        f"{lock_path} is a symbolic link{target}; the lock file must be a plain file, since a "
        "run writes into it: remove the link and run again")


def _note_writer(lock_path: Path, what: str) -> Callable[[int], None]:
    """The ``on_acquired`` callback: check the locked file, then write the holder's note.

    filelock has opened the file without following a link (and without blocking on a FIFO)
    and holds the lock on that descriptor; before anything is written, a file that is not
    regular, or that has other hard links (whose contents the note would overwrite), is
    refused, which makes filelock release it again.
    """

    def write_note(fd: int) -> None:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FolderLockedError(f"{lock_path} is not a regular file; the lock file must be "
                                    "a plain file: remove it and run again")
        if st.st_nlink > 1:
            raise FolderLockedError(
                f"{lock_path} has {st.st_nlink - 1} other hard link(s): a run writes into the "
                "lock file, which would change the other file(s); remove it and run again")
        with contextlib.suppress(OSError):  # the lock holds; the note is only for the message
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{what}, pid {os.getpid()}\n".encode())

    return write_note


@contextlib.contextmanager
def lock_folder(path: str | os.PathLike, *, what: str = "prepare") -> Iterator[Path]:
    """Hold an exclusive lock on a folder while a run writes into it.

    Takes a :class:`filelock.FileLock` on ``PATH/.bag-of-songs.lock`` (created when missing,
    never deleted, opened without following a link: a lock file that is a symbolic link, a hard
    link or not a regular file is refused, never written through). The system releases the lock
    when the process ends, however it ends (even ``kill -9``), so a crashed run never leaves
    the folder locked. A second run that wants the folder refuses at once with
    :class:`FolderLockedError`, naming the run that holds it. Nested use on the same folder
    within one process (e.g. ``run`` = prepare + features) is allowed.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 5: one run at a time).

    Parameters
    ----------
    path : path-like
        The folder (created when missing).
    what : str
        What the run does (``"prepare"``, ``"features"``...), written into the lock file and
        named in the error another run sees.

    Yields
    ------
    path : Path
        The folder.

    Raises
    ------
    FolderLockedError
        When another run holds the lock, ``path`` is a file, or the lock file is a symbolic
        link, a hard link or not a regular file.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder, lock_folder(folder, what="features") as path:
    ...     print((path / LOCK_NAME).read_text().split(",")[0])
    features
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FolderLockedError(f"{path}: not a folder (a file of that name exists)")
    path.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    with _held_guard:
        if key in _held:
            _held[key][1] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield path
        finally:
            with _held_guard:
                _held[key][1] -= 1
        return
    lock_path = path / LOCK_NAME
    # on_acquired and preserve_lock_file also rule out filelock's soft fallback (a marker file,
    # not a lock the system releases); blocking=False: refuse at once, never wait.
    lock = FileLock(str(lock_path), blocking=False, fallback_to_soft=False,
                    preserve_lock_file=True, on_acquired=_note_writer(lock_path, what))
    try:
        lock.acquire()
    except Timeout:
        raise FolderLockedError(
            f"{path} is in use by another run{_lock_holder(lock_path)}; wait for it to finish "
            f"or stop it, then run again (two runs writing into one folder would mix their "
            f"outputs)") from None
    except FolderLockedError:
        raise
    except OSError:
        error = _symlink_error(lock_path)
        if error is not None:
            raise error from None
        raise
    with _held_guard:
        _held[key] = [lock, 1, what]
    try:
        yield path
    finally:
        with _held_guard:
            del _held[key]
        lock.release()
