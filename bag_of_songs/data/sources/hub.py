"""Hugging Face sources: any audio dataset, from the hub or a local folder, as items.

:func:`load_hf_dataset` loads a hub id or a local folder as a ``DatasetDict``;
:func:`hf_items` turns its splits into items whose audio is read only when decoded. CCMusic,
which needs more care, has its own module beside this one (:mod:`.ccmusic`).

:func:`probe_hub` says within a few seconds whether the hub can be reached at all, before a
hub call that would retry for half a minute offline: it opens one TCP connection to the hub's
host (or to the HTTPS proxy in use) and honours ``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE``
and ``HF_ENDPOINT``. Tests replace it here (``bag_of_songs.data.sources.hub.probe_hub``), where
:func:`load_hf_dataset` looks it up.

``datasets`` is imported inside the functions that need it: it is heavy, and importing
:mod:`bag_of_songs.data` must stay light. Re-exported by :mod:`bag_of_songs.data` (and, for old
imports, by :mod:`bag_of_songs.hub`).

Explained in ``notebooks/1-data-preparation.ipynb`` (section 1).
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ...errors import DataSourceError
from ..labels import CLASS_ALIASES, LEVELS
from .base import Item, _Items

__all__ = [
    "HUB_ENDPOINT",
    "HubStatus",
    "probe_hub",
    "load_hf_dataset",
    "looks_like_hf_folder",
    "hf_items",
]

#: The hub's address when ``HF_ENDPOINT`` is not set.
HUB_ENDPOINT = "https://huggingface.co"

#: Environment variables that tell the Hugging Face libraries to stay offline.
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


@dataclass(frozen=True)
class HubStatus:
    """Whether the Hugging Face hub could be reached, and if not, why.

    True in a boolean context when reachable.

    Attributes
    ----------
    reachable : bool
    endpoint : str
        The hub's address probed (``HF_ENDPOINT``, else :data:`HUB_ENDPOINT`).
    reason : str
        Empty when reachable; otherwise one short clause, e.g. ``"HF_HUB_OFFLINE=1 is set"``
        or ``"no connection to huggingface.co:443 within 3 s"``.
    """

    reachable: bool
    endpoint: str
    reason: str = ""

    def __bool__(self) -> bool:
        return self.reachable


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _connect_target(endpoint: str) -> tuple[str, int, str]:
    """(host, port, what) of the first TCP hop towards ``endpoint``: its proxy when one is set
    for it, else the endpoint itself."""
    url = urllib.parse.urlsplit(endpoint)
    host = url.hostname or ""
    port = url.port or (80 if url.scheme == "http" else 443)
    proxy = urllib.request.getproxies().get(url.scheme or "https")
    if proxy and host and not urllib.request.proxy_bypass(host):
        purl = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if purl.hostname:
            return purl.hostname, purl.port or 8080, f"the proxy {purl.hostname}:{purl.port or 8080}"
    return host, port, f"{host}:{port}"


def probe_hub(*, timeout: float = 3.0) -> HubStatus:
    """Whether the Hugging Face hub can be reached, in at most about ``timeout`` seconds.

    No HTTP request and no retries: ``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` set to a
    true value answer at once (the libraries would not go online either); otherwise one TCP
    connection is opened to the host of ``HF_ENDPOINT`` (default :data:`HUB_ENDPOINT`), or to
    the proxy ``HTTPS_PROXY`` names for it. Name resolution counts towards the timeout (it
    runs in a helper thread, since the resolver has no timeout of its own). A reachable host
    does not mean that a given dataset loads: that is still up to the hub.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 1: the ``auto`` source).

    Parameters
    ----------
    timeout : float
        Seconds to wait for the name lookup and the connection together.

    Returns
    -------
    status : HubStatus
        True when reachable; otherwise its ``reason`` says why not.
    """
    endpoint = (os.environ.get("HF_ENDPOINT") or HUB_ENDPOINT).rstrip("/")
    for var in _OFFLINE_VARIABLES:
        if _truthy(os.environ.get(var)):
            return HubStatus(False, endpoint, f"{var}={os.environ[var]} is set")
    host, port, what = _connect_target(endpoint)
    if not host:
        return HubStatus(False, endpoint, f"HF_ENDPOINT={endpoint!r} names no host")
    outcome: list[str] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append("")
        except socket.gaierror as exc:
            outcome.append(f"cannot resolve {host} ({exc.strerror or exc})")
        except OSError as exc:
            outcome.append(f"no connection to {what} ({exc.strerror or exc})")

    thread = threading.Thread(target=connect, name="bag-of-songs-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        return HubStatus(False, endpoint, f"no connection to {what} within {timeout:g} s")
    return HubStatus(not outcome[0], endpoint, outcome[0])


_HF_FOLDER_FILES = ("dataset_dict.json", "state.json", "dataset_info.json")


def looks_like_hf_folder(path: str | os.PathLike) -> bool:
    """Whether a local folder is a Hugging Face dataset rather than genre subfolders: a
    ``save_to_disk`` folder, or a folder of parquet / arrow data files."""
    p = Path(path)
    if any((p / f).exists() for f in _HF_FOLDER_FILES):
        return True
    return any(p.glob("*.parquet")) or any(p.glob("*/*.parquet")) or any(p.glob("*.arrow"))


def _as_dataset_dict(ds):
    import datasets

    if isinstance(ds, datasets.DatasetDict):
        return ds
    if isinstance(ds, datasets.Dataset):
        return datasets.DatasetDict({"train": ds})
    raise DataSourceError(f"expected a datasets.Dataset or DatasetDict, got {type(ds).__name__}")


def load_hf_dataset(source: str | os.PathLike, *, name: str | None = None,
                    revision: str | None = None, trust_remote_code: bool = False):
    """Load a Hugging Face dataset from the hub or from a local path, as a ``DatasetDict``.

    A local folder written by ``save_to_disk`` is read with ``datasets.load_from_disk``;
    any other local folder or a hub id goes through ``datasets.load_dataset``.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 1).

    Parameters
    ----------
    source : str or path-like
        A hub id (``"owner/name"``) or a local dataset folder.
    name : str, optional
        Configuration (subset) name (not used for a ``save_to_disk`` folder).
    revision : str, optional
        Hub revision: branch, tag or commit (not used for a ``save_to_disk`` folder).
    trust_remote_code : bool
        Let a script-based hub dataset run its loading script. Only for datasets you trust.

    Returns
    -------
    dsdict : datasets.DatasetDict
        The dataset's splits; a single ``Dataset`` becomes ``{"train": dataset}``.

    Raises
    ------
    DataSourceError
        When nothing can be loaded (no network, unknown id, unreadable folder), or what loads
        is neither a ``Dataset`` nor a ``DatasetDict``.
    """
    p = Path(source)
    offline = any(_truthy(os.environ.get(v)) for v in _OFFLINE_VARIABLES)
    if not p.exists() and not offline:
        # A hub id: say at once when the hub cannot be reached (datasets would retry for half
        # a minute, and a mistyped folder name would read as a network problem).
        status = probe_hub()
        if not status:
            where = (f"there is no folder {str(source)!r} here; as a Hugging Face id it could "
                     f"not be reached")
            raise DataSourceError(
                f"{where}: {status.reason} (offline?). Give a folder that exists, or, for a "
                "dataset already in the local Hugging Face cache, set HF_DATASETS_OFFLINE=1")
    import datasets

    try:
        if p.is_dir() and any((p / f).exists() for f in _HF_FOLDER_FILES):
            ds = datasets.load_from_disk(str(p))
        else:
            kwargs = {"name": name, "revision": revision}
            if trust_remote_code:
                kwargs["trust_remote_code"] = True
            ds = datasets.load_dataset(str(source), **kwargs)
    except DataSourceError:
        raise
    except Exception as exc:  # datasets raises many types (connection, file, value errors)
        hint = ""
        if not p.exists() and str(source).count("/") == 1:
            hint = (f" (if you meant a local folder: there is no folder {str(source)!r} "
                    f"here)")
        raise DataSourceError(
            f"could not load the Hugging Face dataset {str(source)!r}"
            f"{f' (config {name!r})' if name else ''}"
            f"{f' at revision {revision!r}' if revision else ''}: "
            f"{type(exc).__name__}: {exc}{hint}") from exc
    return _as_dataset_dict(ds)


def _audio_column(dsdict) -> str | None:
    import datasets

    first = next(iter(dsdict.values()))
    for col, feat in first.features.items():
        if isinstance(feat, datasets.Audio):
            return col
    return None


def _class_name(feature, value) -> str:
    import datasets

    if isinstance(feature, datasets.ClassLabel):
        if value is None or value < 0:
            return ""
        name = feature.int2str(int(value))
    else:
        name = "" if value is None else str(value)
    return CLASS_ALIASES.get(name, name)


def hf_items(dsdict, *, label_column: str | None, source_name: str) -> dict[str, _Items]:
    """Items per split of a DatasetDict; the audio is read lazily as raw bytes or a path.

    Each item's stamp is the split's dataset fingerprint and the row index, so a clip is
    prepared again when the dataset changes.
    """
    import datasets

    audio_col = _audio_column(dsdict)
    if audio_col is None:
        cols = list(next(iter(dsdict.values())).features)
        raise DataSourceError(f"{source_name}: no Audio column among {cols}")
    features = next(iter(dsdict.values())).features
    if label_column is not None:
        if label_column not in features:
            raise DataSourceError(
                f"{source_name}: no label column {label_column!r}; columns: {list(features)}")
        label_cols = [label_column]
    elif all(lv in features for lv in LEVELS):
        label_cols = list(LEVELS)
    elif "label" in features:
        label_cols = ["label"]
    else:
        class_cols = [c for c, f in features.items() if isinstance(f, datasets.ClassLabel)]
        if len(class_cols) != 1:
            raise DataSourceError(
                f"{source_name}: cannot tell the label column; pass --label-column "
                f"(columns: {list(features)})")
        label_cols = class_cols
    out = {}
    for split, ds in dsdict.items():
        fingerprint = getattr(ds, "_fingerprint", None) or ""
        ds = ds.select_columns([audio_col, *label_cols]).cast_column(
            audio_col, datasets.Audio(decode=False))
        out[split] = _hf_split_items(ds, audio_col, label_cols, f"{source_name}:{split}",
                                     fingerprint)
    return out


def _hf_split_items(ds, audio_col: str, label_cols: list[str], prefix: str,
                    fingerprint: str) -> _Items:
    # Labels are small: read them all once (needed for stratified splits and annotations).
    columns = [ds[c] for c in label_cols]
    labels = [{c: _class_name(ds.features[c], v) for c, v in zip(label_cols, vals, strict=True)}
              for vals in zip(*columns, strict=True)] if len(ds) else []
    sources = [f"{prefix}:{i}" for i in range(len(ds))]
    stamps = [f"hf:{fingerprint}:{i}" if fingerprint else "" for i in range(len(ds))]

    def get(i: int) -> Item:
        audio = ds[i][audio_col] or {}
        if audio.get("bytes"):
            return Item(sources[i], labels[i], "bytes", audio["bytes"], stamps[i])
        return Item(sources[i], labels[i], "path", audio.get("path"), stamps[i])

    return _Items(labels, sources, get, stamps=stamps)
