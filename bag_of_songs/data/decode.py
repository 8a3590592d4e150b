"""One job of :func:`bag_of_songs.data.prepare`: decode one item into a clip, in a worker.

:func:`_decode_job` runs in a worker process (or on a Dask worker) and writes nothing: it
returns the clip, its warnings and what the native decoders printed, and the parent process
writes the clip (:mod:`.prepare_split`). Tests replace :func:`_decode_item` here to interrupt a
run.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 4, homogenisation).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile

import numpy as np

from .._constants import DURATION, SAMPLE_RATE
from ..errors import AudioLoadError
from .audio import _load, clip_warnings
from .sources.base import Item
from .sources.demo import synthesize_demo_clip


def _decode_item(item: Item) -> tuple[np.ndarray, int]:
    """The clip of an item and how many of its samples are real audio (not padding)."""
    if item.kind == "demo":
        style, seed = item.payload
        y = synthesize_demo_clip(style, seed)
        return y, len(y)
    if item.kind == "bytes":
        buf = io.BytesIO(item.payload)
        buf.name = item.source
        return _load(buf, sr=SAMPLE_RATE, duration=DURATION)
    if item.kind == "path":
        if not item.payload:
            raise AudioLoadError(f"{item.source}: the dataset row has neither bytes nor a path")
        return _load(item.payload, sr=SAMPLE_RATE, duration=DURATION)
    raise ValueError(f"unknown item kind {item.kind!r}")


@contextlib.contextmanager
def _captured_stderr(lines: list[str]):
    """Collect what native decoders (libmpg123's "Illegal Audio-MPEG-Header", ...) print on
    file descriptor 2 while decoding, so that it is logged with the file's name instead of
    landing on a progress bar."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable file descriptor 2
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace")
            lines.extend(ln.strip() for ln in text.splitlines() if ln.strip())


def _decode_job(item: Item) -> tuple[np.ndarray | None, str | None, list[str], list[str]]:
    """One job of :func:`prepare`: ``(clip, None, warnings, decoder messages)``, or ``(None,
    reason, [], messages)`` when the item cannot be decoded. Runs in a worker process (or on a
    Dask worker) and writes nothing: the parent writes the clip."""
    messages: list[str] = []
    try:
        with _captured_stderr(messages):
            y, n_real = _decode_item(item)
    except AudioLoadError as exc:
        return None, str(exc), [], messages
    return y, None, clip_warnings(y, n_real=n_real), messages
