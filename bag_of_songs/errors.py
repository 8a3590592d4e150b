"""Every error bag_of_songs raises, under one base class (a leaf module: imports nothing).

Catch :class:`BagOfSongsError` to handle anything the package reports about its input. Each
class also keeps the built-in base it has always had (``ValueError``, ``RuntimeError``,
``OSError``), so code written against those goes on working, and the command line turns each of
them into one ``error: ...`` line. The modules that raise them re-export them under the names
they always had (``bag_of_songs.features.FeatureError`` is this ``FeatureError``).
"""

from __future__ import annotations

__all__ = [
    "BagOfSongsError",
    "AudioLoadError",
    "DataSourceError",
    "FolderLockedError",
    "SchedulerError",
    "FeatureError",
    "StaleFeaturesError",
    "EmbeddingError",
    "MusicnnError",
    "CheckpointError",
    "ModelError",
    "CNNError",
]


class BagOfSongsError(Exception):
    """Base of every error the package raises about its input, files or settings.

    Examples
    --------
    >>> issubclass(FeatureError, BagOfSongsError) and issubclass(FeatureError, ValueError)
    True
    """


# Data (notebook 1)


class AudioLoadError(BagOfSongsError, RuntimeError):
    """An audio file or buffer could not be decoded into a clip.

    The message names the file and the reason.
    """


class DataSourceError(BagOfSongsError, RuntimeError):
    """A data source could not be loaded, or has no usable audio or labels."""


class FolderLockedError(BagOfSongsError, OSError):
    """Another run (this process or another) is writing into the folder; the message says which.

    Also raised when the folder's lock file is a link or not a regular file. An ``OSError``, so
    the command line reports it as ``error: ...`` with exit status 2.
    """


class SchedulerError(BagOfSongsError, OSError):
    """The Dask scheduler cannot be used: ``distributed`` is missing, or the address cannot be
    reached. The message says which and what to do.

    An ``OSError``, so the command line reports it as ``error: ...`` with exit status 2.
    """


# Features and embeddings (notebooks 2 and 5)


class FeatureError(BagOfSongsError, ValueError):
    """Input that no feature can be computed from (empty, not 1-D, non-finite, bad settings)."""


class StaleFeaturesError(FeatureError):
    """A feature table that no longer matches what it was derived from: re-run ``features``.

    Raised by :func:`bag_of_songs.features.check_feature_table` and
    :func:`bag_of_songs.features.check_feature_tables`.
    """


class EmbeddingError(FeatureError):
    """The pretrained embedding cannot be computed as asked: its checkpoint files are missing
    (the message names the pip command that installs them), or the installed ones are not those
    the settings of a table or model were made with."""


class MusicnnError(BagOfSongsError, ValueError):
    """musicnn cannot run: checkpoints not installed, unknown model or layer, or bad input."""


class CheckpointError(BagOfSongsError, ValueError):
    """A checkpoint bundle that is missing, truncated, malformed or of an unsupported kind."""


# Models (notebooks 3 and 4)


class ModelError(BagOfSongsError, ValueError):
    """Bad model input: unknown labels, missing columns, non-finite values, bad model files."""


class CNNError(BagOfSongsError, ValueError):
    """Bad input to the spectrogram models: shapes, settings, labels, architectures."""
