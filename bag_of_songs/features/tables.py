"""Feature tables on disk: build every split's, stage it, publish it whole; or extract in memory.

:func:`build_feature_table` and :func:`build_feature_tables` write ``features.csv``,
``features_skipped.csv`` and ``features.json`` under the data folder's lock, beside the old
files, renamed into place only when complete (``features.json`` last);
:func:`extract_feature_table` and :func:`extract_setting_tables` compute the same tables in
memory, writing nothing.

Explained in ``notebooks/2-features-explanation.ipynb`` (section 7).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from .._logging import forward_records
from ..data import list_splits, lock_folder
from ..files import atomic_write, sha256_file
from .compute import _compute_table, _compute_tables
from .params import _TABLE_FILES, FEATURES_FORMAT_VERSION
from .provenance import _features_json
from .resume import _remove_partials
from .settings import EXTRACTION_KEYWORDS, FeatureSettings, as_settings


def _staged(path: Path) -> Path:
    return path.with_name(f".{path.name}.staged")


def _remove_debris(split_dir: Path) -> None:
    """Remove the staged and temporary table files an interrupted run left (only ours)."""
    for name in _TABLE_FILES:
        for p in split_dir.glob(f".{name}.*"):
            if p.is_file():
                p.unlink(missing_ok=True)


def _locked(data_dir: Path):
    """Hold the data folder's lock while its tables are built (no concurrent ``prepare``).

    The lock is :func:`bag_of_songs.data.lock_folder`, the one ``prepare`` takes, so a
    second run refuses at once with ``FolderLockedError``; nested use in one process (``run``
    = prepare + features) is allowed.
    """
    return lock_folder(data_dir, what="features")


class _StagedSplit:
    """A split's new table, written beside the current one but not yet in its place."""

    def __init__(self, split_dir: Path, table: pd.DataFrame):
        self.split_dir = split_dir
        self.table = table
        self.files: list[tuple[Path, Path]] = []  # (staged, final), in publication order

    def stage(self, final: Path, write, suffix: str) -> Path:
        staged = _staged(final)
        atomic_write(staged, write, suffix)
        self.files.append((staged, final))
        return staged

    def publish(self) -> None:
        # features.json goes last: until it is replaced, the old one's features_sha256 does
        # not match the new features.csv, so a half-published split is refused as stale.
        for staged, final in self.files:
            os.replace(staged, final)
        self.files = []

    def discard(self) -> None:
        for staged, _ in self.files:
            staged.unlink(missing_ok=True)
        self.files = []


def _csv_writer(df: pd.DataFrame):
    # No index, UTF-8, "\n" line ends, as bag_of_songs.data.write_csv_atomic: same table,
    # same bytes.
    return lambda tmp: df.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")


def _stage_split(split_dir: Path, settings: dict, *, n_jobs: int, scheduler, progress: bool
                 ) -> _StagedSplit:
    table, skipped, labels, columns, ann_sha, n_clips, stamps = _compute_table(
        split_dir, settings, n_jobs=n_jobs, scheduler=scheduler, progress=progress,
        resume=True)
    staged = _StagedSplit(split_dir, table)
    try:
        csv_path = staged.stage(split_dir / "features.csv",
                                _csv_writer(table), ".csv.tmp")
        skip_path = split_dir / "features_skipped.csv"
        if skipped or skip_path.exists():  # rewritten, never left stale from an earlier run
            skip_table = pd.DataFrame(skipped, columns=["audio_file", "reason"])
            staged.stage(skip_path, _csv_writer(skip_table), ".csv.tmp")
        meta = {"format_version": FEATURES_FORMAT_VERSION, **settings,
                "label_columns": labels, "feature_columns": columns,
                "n_rows": len(table), "n_clips": n_clips,
                "annotations_sha256": ann_sha, "features_sha256": sha256_file(csv_path)}
        text = _features_json(meta, stamps)
        staged.stage(split_dir / "features.json",
                     lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), ".tmp")
    except BaseException:
        staged.discard()
        raise
    return staged


def _table_settings(settings, **keywords) -> FeatureSettings:
    """The settings of a new table from ``settings=`` or keywords (None meaning the
    default), the musicnn checkpoint described."""
    given = {k: v for k, v in keywords.items() if v is not None}
    return as_settings(settings, **given).resolved()


def build_feature_table(split_dir: str | os.PathLike, *,
                        settings: FeatureSettings | Mapping | None = None,
                        stats: Iterable[str] | None = None,
                        feature_set: str | Iterable[str] | None = None,
                        n_mfcc: int | None = None, segment: float | None = None,
                        segment_hop: float | None = None, musicnn_model: str | None = None,
                        musicnn_layer: str | None = None, n_jobs: int = -1, scheduler=None,
                        progress: bool = True, log=None) -> pd.DataFrame:
    """Extract every clip listed in ``split_dir/annotations.csv`` and write ``features.csv``.

    Clips are read and featurised one at a time in worker processes
    (:func:`bag_of_songs.parallel.map_parallel`: they die with this process and ignore
    Ctrl-C), a few clips in flight at a time, so memory stays flat however large the corpus.
    With ``scheduler`` (or ``$BAG_OF_SONGS_SCHEDULER``), the clips are featurised on an
    existing Dask cluster instead (needs ``distributed``; the clips must be on storage every
    worker can read); the rows come back to this process, which writes the same table, the
    same skip list and the same ``features.json``, byte for byte, as a local run.

    The data folder (``split_dir``'s parent) is locked while the table is built, and the new
    files are written beside the old ones and renamed into place only when all are complete,
    ``features.json`` last; :func:`check_feature_table` refuses any mix an interruption leaves.

    **Resume.** Each clip's rows are appended, as soon as they are computed, to a hidden side
    file in the split folder (``.features.partial.<settings hash>.jsonl``: the settings, and
    per clip its name, size, modification and change times, inode, and rows, floats written
    so that they read back exactly). Run again with the same settings after an interruption,
    the clips it holds are reused (only those whose file is unchanged) and only the others
    are extracted, giving the same table, byte for byte, as an uninterrupted run. The side
    file is removed once the table is published, and when a run with other settings starts;
    one that is not exactly as written (edited, truncated, from another version or another
    machine) is ignored. Clips that could not be decoded are tried again.

    With a musicnn embedding (``feature_set="musicnn"``, ``"seed+musicnn"``, ...), each worker
    process loads the network once (on its first clip, then keeps it) and embeds one clip at
    a time (10 patches of 3 s, one per forward pass: about 6 MB above the loaded process;
    importing torch costs each worker about 200 MB once), on one torch thread: one clip per
    core, as for the hand-crafted features (with ``n_jobs=1`` this process's thread count is
    restored afterwards). A missing checkpoint is reported before any worker starts. The
    network costs about 0.3 s per 30 s clip and core (3 clips per second on one worker, 6 on
    two, against about 50 for the seed table; ``benchmarks/bench_musicnn.py``): for a large
    corpus, use every core, or a Dask cluster.

    Explained in ``notebooks/2-features-explanation.ipynb`` (section 7, through
    :func:`build_feature_tables`).

    Parameters
    ----------
    split_dir : path-like
        A prepared split, e.g. ``ccmusic/train``.
    settings : FeatureSettings or mapping, optional
        All the settings in one object (:class:`FeatureSettings`), instead of the keywords
        below; a keyword left as None means the study's setting (``mean``, ``seed``, 13).
    stats : iterable of str
        Pooling statistics over frames (hand-crafted features) and over 3 s patches (an
        embedding), see :func:`extract_features`.
    feature_set : str or list of str
        One of :data:`TABLE_FEATURE_SETS`: ``"seed"``, ``"extended"``, ``"musicnn"``,
        ``"seed+musicnn"``, ``"extended+musicnn"`` (or a list of parts).
    n_mfcc : int
    segment : float, optional
        Segment length in seconds (e.g. 3.0): one row per segment (texture window) of each
        clip, see :func:`extract_features` (and :func:`segment_patches` for the embedding);
        None (default): one row per clip.
    segment_hop : float, optional
        Seconds between segment starts (default ``segment``).
    musicnn_model : {"MSD_musicnn", "MTT_musicnn"}, optional
        With an embedding (default ``MSD_musicnn``).
    musicnn_layer : str, optional
        With an embedding: one of :data:`MUSICNN_LAYERS` (default ``penultimate``, the
        recommended one).
    n_jobs : int
        Local worker processes (-1 = all cores; never more than there are clips; 1 = in this
        process). Ignored with a Dask scheduler.
    scheduler : str, distributed.Client or None
        None: ``$BAG_OF_SONGS_SCHEDULER`` when set, else local processes; ``"local"``; or a
        Dask scheduler address such as ``"tcp://10.0.0.5:8786"`` (see
        :func:`bag_of_songs.parallel.resolve_scheduler`).
    progress : bool
    log : callable, optional
        Deprecated: attach a handler to the ``bag_of_songs`` logger instead. Receives the
        package's log lines (``INFO`` and up) while this call runs. Without it, a clip left
        out is logged at ``WARNING`` (shown on stderr when logging is not configured).

    Returns
    -------
    table : pandas.DataFrame
        ``audio_file``, the label column(s) (every column of ``annotations.csv`` but
        ``audio_file`` and ``source``), for a segment table ``segment`` (0, 1, ... within each
        clip, the clip's rows together and in order), then the feature columns; also written
        to ``split_dir/features.csv``. A missing or unreadable clip is logged and
        left out, never written as a NaN row; the clips left out and why are listed in
        ``split_dir/features_skipped.csv``.

        ``split_dir/features.json`` records: ``format_version``
        (:data:`FEATURES_FORMAT_VERSION`), the settings (``sr, n_fft, hop_length, n_mfcc,
        stats, feature_set, tuning, segment, segment_hop``; with an embedding also
        ``musicnn_model, musicnn_layer, musicnn_settings``, the last with the checkpoint's
        SHA-256, see :func:`feature_settings`), ``label_columns``,
        ``feature_columns`` (in table order, without ``segment``), ``n_rows`` (rows of
        ``features.csv``), ``n_clips`` (clips kept; ``n_rows`` for a whole-clip table),
        ``annotations_sha256`` (of ``annotations.csv`` as read), ``features_sha256`` (of
        ``features.csv`` as written) and ``clip_stamps`` (``audio_file -> [size, mtime_ns]``
        of every clip listed, null for a missing one, taken before the clips were read).

    Raises
    ------
    FileNotFoundError
        When the split has no ``annotations.csv``.
    FeatureError
        On an unknown statistic or feature set, ``n_mfcc`` outside 1..128, or an unknown
        musicnn model or layer.
    EmbeddingError
        With an embedding, when the musicnn checkpoint files are not installed (before any
        clip is read; the message names ``pip install --no-deps musicnn==0.1.0``), or a
        worker's differ from this process's.
    FolderLockedError
        When another run (``prepare``, ``features``) is writing into the data folder.
    SchedulerError
        When the Dask scheduler cannot be used (``distributed`` missing, address unreachable).
    StaleFeaturesError
        When ``annotations.csv`` or a clip changed while the features were extracted (nothing
        is written).
    """
    split_dir = Path(split_dir)
    settings = _table_settings(settings, stats=stats, feature_set=feature_set, n_mfcc=n_mfcc,
                               segment=segment, segment_hop=segment_hop,
                               musicnn_model=musicnn_model, musicnn_layer=musicnn_layer
                               ).to_dict()
    with forward_records(log), _locked(split_dir.parent):
        _remove_debris(split_dir)
        staged = _stage_split(split_dir, settings, n_jobs=n_jobs, scheduler=scheduler,
                              progress=progress)
        try:
            staged.publish()
        finally:
            staged.discard()
        _remove_partials(split_dir)  # published: the side file is no longer needed
    return staged.table


def extract_feature_table(split_dir: str | os.PathLike, *,
                          settings: FeatureSettings | Mapping | None = None,
                          stats: Iterable[str] | None = None,
                          feature_set: str | Iterable[str] | None = None,
                          n_mfcc: int | None = None, segment: float | None = None,
                          segment_hop: float | None = None, musicnn_model: str | None = None,
                          musicnn_layer: str | None = None, n_jobs: int = -1, scheduler=None,
                          progress: bool = True, log=None) -> pd.DataFrame:
    """The table :func:`build_feature_table` would write, computed in memory: nothing is
    written, and the split's ``features.csv`` is left as it is.

    For comparing feature settings side by side (segments, another feature set, an
    embedding) without replacing the table the other steps read, as
    :func:`bag_of_songs.models.compare_feature_sets` and the notebooks do. The rows are the
    same, clip for clip, as a table built with the same settings; clips that cannot be read
    are logged and left out.

    Used in ``notebooks/2-features-explanation.ipynb`` (texture windows),
    ``notebooks/3-models-prediction.ipynb`` (segment models) and
    ``notebooks/5-pretrained-embeddings.ipynb`` (musicnn tables).

    Parameters
    ----------
    split_dir : path-like
        A prepared split, e.g. ``ccmusic/train``.
    settings, stats, feature_set, n_mfcc, segment, segment_hop, musicnn_model, musicnn_layer, \
n_jobs, scheduler, progress, log
        As for :func:`build_feature_table`.

    Returns
    -------
    table : pandas.DataFrame
        ``audio_file``, the label columns, ``segment`` for a segment table, then the feature
        columns. ``table.attrs["settings"]`` holds the feature settings
        (:func:`feature_settings`), ``table.attrs["skipped"]`` the clips left out as
        ``(audio_file, reason)`` pairs.

    Raises
    ------
    FileNotFoundError
        When the split has no ``annotations.csv``.
    FeatureError, EmbeddingError, SchedulerError
        As for :func:`build_feature_table`.
    StaleFeaturesError
        When ``annotations.csv`` or a clip changed while the features were extracted.
    """
    one = _table_settings(settings, stats=stats, feature_set=feature_set, n_mfcc=n_mfcc,
                          segment=segment, segment_hop=segment_hop,
                          musicnn_model=musicnn_model, musicnn_layer=musicnn_layer)
    return extract_setting_tables(split_dir, [one], n_jobs=n_jobs, scheduler=scheduler,
                                  progress=progress, log=log)[0]


def extract_setting_tables(split_dir: str | os.PathLike, settings: Sequence[Mapping], *,
                           n_jobs: int = -1, scheduler=None, progress: bool = True, log=None
                           ) -> list[pd.DataFrame]:
    """:func:`extract_feature_table` for several settings in one pass over the clips.

    Each clip is decoded once, and each part of a feature set (the hand-crafted set, the
    embedding) is computed once per pooling setting: ``seed`` and ``seed+musicnn`` share the
    study's columns, ``musicnn`` and ``seed+musicnn`` share the network's forward passes. A
    combined set's row is its parts' columns side by side, as :func:`extract_features`
    returns it, so every table equals the one :func:`extract_feature_table` gives for its
    setting alone. Nothing is written.

    Used by :func:`bag_of_songs.models.compare_feature_sets`.

    Parameters
    ----------
    split_dir : path-like
        A prepared split.
    settings : sequence of FeatureSettings or mapping
        One per table: a :class:`FeatureSettings`, or keywords of
        :func:`extract_feature_table` (:data:`EXTRACTION_KEYWORDS`), e.g.
        ``[{}, {"segment": 3.0}, {"feature_set": "seed+musicnn"}]``.
    n_jobs, scheduler, progress, log
        As for :func:`build_feature_table`.

    Returns
    -------
    tables : list of pandas.DataFrame
        One per setting, in order, each with ``attrs["settings"]`` and ``attrs["skipped"]``.

    Raises
    ------
    FeatureError
        On an unknown keyword or a bad setting (before any clip is read).
    EmbeddingError, SchedulerError, StaleFeaturesError
        As for :func:`extract_feature_table`.
    """
    split_dir = Path(split_dir)
    resolved = []
    for one in settings:
        if not isinstance(one, FeatureSettings):
            one = as_settings(**dict(one))
        resolved.append(one.resolved().to_dict())
    if not resolved:
        return []
    with forward_records(log):
        results = _compute_tables(split_dir, resolved, n_jobs=n_jobs, scheduler=scheduler,
                                  progress=progress)
    tables = []
    for s, (table, skipped, *_) in zip(resolved, results, strict=True):
        table.attrs["settings"] = s
        table.attrs["skipped"] = [tuple(x) for x in skipped]
        tables.append(table)
    return tables


def build_feature_tables(data_dir: str | os.PathLike, **kwargs) -> dict[str, pd.DataFrame]:
    """Run :func:`build_feature_table` on every prepared split under ``data_dir``.

    Every split's table is built first (beside the current ones) and only then are all put in
    place, so an interruption while extracting leaves the previous tables as they were; an
    interruption while renaming (a few milliseconds) leaves splits with different settings,
    which :func:`check_feature_tables` refuses. The data folder is locked throughout. The
    clips finished before an interruption are kept in each split's side file, and the same
    call again resumes from them (see :func:`build_feature_table`).

    Explained in ``notebooks/2-features-explanation.ipynb``.

    Parameters
    ----------
    data_dir : path-like
        A prepared folder (see :func:`bag_of_songs.data.prepare`), e.g. ``ccmusic``.
    **kwargs
        Passed to :func:`build_feature_table`: ``settings`` or ``stats``, ``feature_set``, ``n_mfcc``,
        ``segment``, ``segment_hop``, ``musicnn_model``, ``musicnn_layer``, ``n_jobs``,
        ``scheduler``, ``progress``, ``log`` (deprecated: attach a handler to the
        ``bag_of_songs`` logger instead).

    Returns
    -------
    tables : dict split name -> pandas.DataFrame
        In split order (train, validation, test, then the others by name); each also written
        to ``data_dir/<split>/features.csv``, with its settings in ``features.json``.

    Raises
    ------
    FileNotFoundError
        When ``data_dir`` holds no prepared split (no ``*/annotations.csv``).
    FeatureError
        On an unknown statistic or feature set, ``n_mfcc`` outside 1..128, or an unknown
        musicnn model or layer.
    EmbeddingError
        With an embedding, when the musicnn checkpoint files are not installed (before any
        clip is read).
    """
    data_dir = Path(data_dir)
    unknown = set(kwargs) - {*EXTRACTION_KEYWORDS, "settings", "n_jobs", "scheduler",
                             "progress", "log"}
    if unknown:
        raise TypeError(f"build_feature_tables() got unexpected keyword argument(s) "
                        f"{sorted(unknown)}")
    settings = _table_settings(kwargs.get("settings"),
                               **{k: kwargs.get(k) for k in EXTRACTION_KEYWORDS}).to_dict()
    options = {"n_jobs": kwargs.get("n_jobs", -1), "scheduler": kwargs.get("scheduler"),
               "progress": kwargs.get("progress", True)}
    splits = list_splits(data_dir)
    if not splits:
        raise FileNotFoundError(f"{data_dir}: no prepared split (no */annotations.csv); "
                                "run `bag-of-songs prepare` first")
    with forward_records(kwargs.get("log")), _locked(data_dir):
        staged: dict[str, _StagedSplit] = {}
        try:
            for s in splits:
                _remove_debris(data_dir / s)
                staged[s] = _stage_split(data_dir / s, settings, **options)
            for s in splits:
                staged[s].publish()
        finally:
            for st in staged.values():
                st.discard()
        for s in splits:  # published: the side files are no longer needed
            _remove_partials(data_dir / s)
    return {s: st.table for s, st in staged.items()}
