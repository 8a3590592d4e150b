"""Data preparation (notebook 1): load any labelled audio and homogenise it into a corpus of
30 s mono clips at 22,050 Hz, then read and describe what was prepared.

Explained in ``notebooks/1-data-preparation.ipynb``.

:func:`prepare` writes, per split::

    OUT/<split>/audios/audio_<split>_<i>.wav
    OUT/<split>/annotations.csv      audio_file (relative to OUT), label column(s), source,
                                     source_stamp (which version of the source the clip is from)
    OUT/<split>/skipped.csv          source, reason    (inputs that could not be prepared)
    OUT/<split>/warnings.csv         audio_file, source, warning  (clips mostly padding, silent)
    OUT/prepare.json                 what each split was prepared from, and how (written first)

One job per module, dependencies running down this list; every public name is importable
from here:

- :mod:`.audio`: decoding and homogenisation (:func:`load_audio`, :func:`to_clip`,
  :func:`fix_length`, :func:`clip_warnings`);
- :mod:`.labels`: CCMusic's label vocabulary (:data:`LEVELS`, :data:`CCMUSIC_HIERARCHY`);
- :mod:`.splits`: stratified, seeded, group-aware splits (:func:`split_items`,
  :func:`split_groups`);
- :mod:`.sources`: what can be prepared, as items: folders (:func:`list_folder_items`),
  Hugging Face datasets (:func:`load_hf_dataset`), CCMusic (:func:`load_ccmusic`), the
  synthetic demo corpus (:func:`synthesize_demo_clip`);
- :mod:`.corpus`: reading a prepared folder (:func:`read_annotations`, :func:`list_splits`,
  :func:`label_columns`, :func:`class_balance`, :func:`label_hierarchy`...);
- :mod:`.report`: :class:`PrepareReport` and the log lines;
- :mod:`.record` and :mod:`.cleanup`: the output folder, ``prepare.json``, and removing what
  an earlier run wrote;
- :mod:`.decode` and :mod:`.prepare_split`: one clip in a worker, one split on disk;
- :mod:`.prepare`: :func:`prepare`;
- :mod:`.locations`: the default data and figure folders.

Beside this package: :mod:`bag_of_songs.files` (atomic writes and the folder lock,
:func:`lock_folder`) and :mod:`bag_of_songs.parallel` (worker processes or a Dask cluster,
:func:`map_parallel`), whose names are re-exported here too. The old modules
``bag_of_songs.audio``, ``.sources``, ``.hub``, ``.demo`` and ``.splits`` re-export the names
of their new homes.
"""

from __future__ import annotations

from .._constants import (
    AUDIO_EXTENSIONS,
    DERIVED_DIRS,  # noqa: F401 (importable as before)
    DERIVED_FILES,  # noqa: F401 (importable as before)
    DURATION,
    FRAME_SIZE,
    HOP_LENGTH,
    LOCK_NAME,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    N_SAMPLES,
    PREPARE_RECORD,  # noqa: F401 (importable as before)
    SAMPLE_RATE,
    SPLIT_FILES,  # noqa: F401 (importable as before)
)
from ..errors import AudioLoadError, DataSourceError, FolderLockedError, SchedulerError
from ..files import (
    atomic_write,
    csv_bytes,  # noqa: F401 (importable as before)
    file_stamp,
    lock_folder,
    remove_stale_temp_files,  # noqa: F401 (importable as before)
    write_bytes_atomic,  # noqa: F401 (importable as before)
    write_csv_atomic,
)
from ..parallel import map_parallel
from .audio import (
    MAX_CHANNELS,
    MIN_REAL_FRACTION,
    SILENCE_PEAK,
    SILENCE_RMS,
    clip_warnings,
    fix_length,
    is_complete_clip,  # noqa: F401 (importable as before)
    load_audio,
    to_clip,
    write_clip,  # noqa: F401 (importable as before)
)
from .corpus import (
    NON_LABEL_COLUMNS,
    class_balance,
    count_files,
    feature_columns,
    imbalance,
    label_columns,
    label_hierarchy,
    list_splits,
    read_annotations,
    read_skipped,
    read_warnings,
    resolve_audio_file,
)
from .labels import CCMUSIC_CLASSES, CCMUSIC_HIERARCHY, LEVELS
from .locations import default_data_dir, default_img_dir
from .prepare import prepare
from .record import _check_out_folder  # noqa: F401 (bag_of_songs/cli.py imports it from here)
from .report import PrepareReport, log_to_stderr
from .sources import (
    CCMUSIC_ID,
    CCMUSIC_REVISIONS,
    CLASSIC_FOLDER_NAMES,
    DEMO_VERSION,
    Item,
    hf_items,  # noqa: F401 (importable as before)
    level_names,
    list_ccmusic_folder,
    list_demo_items,
    list_folder_items,
    load_ccmusic,
    load_hf_dataset,
    looks_like_hf_folder,  # noqa: F401 (importable as before)
    strip_number_prefix,
    synthesize_demo_clip,
)
from .splits import parse_splits, read_groups, split_groups, split_items

# Names marked "importable as before" are not in __all__ but were importable from the old module
# (notebook 1 imports PREPARE_RECORD from here).
__all__ = [
    # clips (audio.py)
    "SAMPLE_RATE", "DURATION", "N_SAMPLES", "FRAME_SIZE", "HOP_LENGTH", "AUDIO_EXTENSIONS",
    "MIN_SAMPLE_RATE", "MAX_SAMPLE_RATE", "MAX_CHANNELS", "MIN_REAL_FRACTION", "SILENCE_PEAK",
    "SILENCE_RMS", "AudioLoadError", "load_audio", "fix_length", "to_clip", "clip_warnings",
    # sources (sources/, labels.py)
    "LEVELS", "CCMUSIC_CLASSES", "CCMUSIC_HIERARCHY", "CLASSIC_FOLDER_NAMES", "CCMUSIC_ID",
    "CCMUSIC_REVISIONS", "DEMO_VERSION", "DataSourceError", "Item", "list_folder_items",
    "level_names", "strip_number_prefix", "load_hf_dataset", "load_ccmusic",
    "list_ccmusic_folder", "synthesize_demo_clip", "list_demo_items",
    # splits (splits.py)
    "parse_splits", "split_items", "split_groups", "read_groups",
    # files and workers (bag_of_songs.files, bag_of_songs.parallel)
    "LOCK_NAME", "FolderLockedError", "atomic_write", "write_csv_atomic", "lock_folder",
    "file_stamp", "SchedulerError", "map_parallel",
    # preparing and reading a corpus (prepare.py, report.py, corpus.py, locations.py)
    "prepare", "PrepareReport", "NON_LABEL_COLUMNS", "resolve_audio_file", "read_annotations",
    "label_columns", "feature_columns", "label_hierarchy", "list_splits", "class_balance",
    "read_skipped", "read_warnings", "count_files", "imbalance", "log_to_stderr",
    "default_data_dir", "default_img_dir",
]
