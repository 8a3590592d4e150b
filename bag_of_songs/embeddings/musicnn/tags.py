"""Tags with no training: musicnn's own tags of an audio file, ranked as its own tagger does.

musicnn's command-line tagger (``musicnn.tagger.top_tags`` of the ``musicnn==0.1.0`` wheel)
decodes the whole file with ``librosa.load(path, sr=16000)`` (mono, every second of it, not
cropped to 30 s), cuts its log-mel spectrogram into non-overlapping 3 s patches, runs the network
on each, averages the ``taggram`` (one probability per tag and patch) over the patches and
returns the tags of the N highest means. :func:`tag_file` does the same with the torch port:
:func:`~bag_of_songs.data.load_audio` at 16 kHz for the file's own length (the signal
``librosa.load`` gives), :func:`~.frontend.musicnn_input`, :func:`~.embed.embed_patches` and
:func:`rank_tags` (musicnn's ranking). Two differences, both where the original fails: the mel
power stays in float32 (the original casts it to float16, which overflows on loud music and
makes every score NaN), and a file shorter than one patch (3 s) is repeated to fill one (the
original stops with an error).

:func:`tag_files` gives the 50 mean scores of many files as a table (one row per file, a
column per tag, decoded in worker processes by :func:`bag_of_songs.parallel.map_parallel`),
for zero-shot tables such as notebook 5's.

Explained in ``notebooks/5-pretrained-embeddings.ipynb``.
"""

from __future__ import annotations

import functools
import numbers
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import soundfile as sf

from ..._constants import DURATION, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from ...data import load_audio
from ...parallel import map_parallel
from .config import SR, MusicnnError, check_model, musicnn_tags
from .embed import embed_patches
from .frontend import musicnn_input

__all__ = ["FileTags", "rank_tags", "tag_file", "tag_files"]


@dataclass(frozen=True)
class FileTags:
    """The top tags of one audio file, best first, with their scores.

    Attributes
    ----------
    file : str
        The file, as given.
    model : str
        ``"MSD_musicnn"`` or ``"MTT_musicnn"``.
    tags : tuple of str
        The top tags, best first.
    scores : tuple of float
        Each tag's score: its probability (the network's sigmoid output) averaged over the
        file's 3 s patches, in [0, 1], non-increasing.
    n_patches : int
        How many 3 s patches the scores average.
    """

    file: str
    model: str
    tags: tuple[str, ...]
    scores: tuple[float, ...]
    n_patches: int

    def as_dict(self) -> dict:
        """The result as plain JSON-ready values: ``file``, ``model``, ``n_patches`` and
        ``tags``, a list of ``{"tag": ..., "score": ...}`` best first."""
        return {"file": self.file, "model": self.model, "n_patches": self.n_patches,
                "tags": [{"tag": t, "score": s}
                         for t, s in zip(self.tags, self.scores, strict=True)]}


def _check_top(top, n_tags: int) -> int:
    if isinstance(top, bool) or not isinstance(top, numbers.Integral) or not 1 <= top <= n_tags:
        raise MusicnnError(f"top must be a whole number of tags from 1 to {n_tags}, got {top!r}")
    return int(top)


def rank_tags(taggram: np.ndarray, *, model: str = "MSD_musicnn",
              top: int = 5) -> list[tuple[str, float]]:
    """The top tags of a clip's taggram, as musicnn's tagger ranks them.

    The mean of each tag's probability over the patches, then the ``top`` highest, best first
    (``musicnn.tagger.top_tags``: ``mean.argsort()[-top:][::-1]``; ties, which float means
    hardly ever make, go to the later tag in :func:`~.config.musicnn_tags`' order).

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    taggram : np.ndarray [shape=(n_patches, 50)]
        The ``taggram`` layer of :func:`~.embed.embed_patches` (probabilities per patch).
    model : {"MSD_musicnn", "MTT_musicnn"}
        The model that made it (names its columns).
    top : int in 1..50

    Returns
    -------
    ranked : list of (str, float) [len=top]
        Tag and mean probability, best first.

    Raises
    ------
    MusicnnError
        Unknown model, ``top`` out of range, or a taggram that is not finite values of shape
        ``(n_patches, 50)`` with at least one patch.

    Examples
    --------
    >>> taggram = np.zeros((2, 50))
    >>> taggram[:, 1] = [0.9, 0.7]  # MTT's second tag
    >>> taggram[:, 9] = [0.1, 0.5]  # its tenth
    >>> [(t, round(s, 2)) for t, s in rank_tags(taggram, model="MTT_musicnn", top=2)]
    [('classical', 0.8), ('piano', 0.3)]
    """
    names = musicnn_tags(model)
    top = _check_top(top, len(names))
    taggram = np.asarray(taggram)
    if (taggram.ndim != 2 or taggram.shape[0] < 1 or taggram.shape[1] != len(names)
            or not np.issubdtype(taggram.dtype, np.number) or not np.all(np.isfinite(taggram))):
        raise MusicnnError(f"expected a taggram of finite values of shape (n_patches, "
                           f"{len(names)}), got shape {taggram.shape} of dtype {taggram.dtype}")
    mean = taggram.mean(axis=0)
    order = np.argsort(mean, kind="stable")[::-1][:top]
    return [(names[i], float(mean[i])) for i in order]


def _seconds(path) -> float:
    """The file's length in seconds as its header states it, or 30 s when it cannot be read
    (then :func:`load_audio` reports why, as for any other file)."""
    try:
        # soundfile encodes a str path strictly as UTF-8; the file system's bytes open any name
        with sf.SoundFile(os.fsencode(path) if os.name != "nt" else path) as f:
            frames, rate = f.frames, f.samplerate
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError, EOFError):
        return DURATION
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE or frames < 1:
        return DURATION  # load_audio refuses the rate, or finds no samples
    return frames / rate


def _taggram(path, model: str, weights_dir) -> np.ndarray:
    """The whole file at 16 kHz, as ``librosa.load(path, sr=16000)``, through the network."""
    y = load_audio(path, sr=SR, duration=_seconds(path))
    return embed_patches(musicnn_input(y, sr=SR), model=model, layers=("taggram",),
                         weights_dir=weights_dir)["taggram"]


def tag_file(path: str | os.PathLike, *, model: str = "MSD_musicnn", top: int = 5,
             weights_dir: str | os.PathLike | None = None) -> FileTags:
    """musicnn's top tags of an audio file, with their scores, with no training.

    The same tags as musicnn's own tagger (``musicnn.tagger.top_tags``): the whole file,
    decoded at 16 kHz mono, in 3 s patches through the network, each tag's probability
    averaged over the patches, the ``top`` highest best first (:func:`rank_tags`). See the
    module's docstring for the two cases where the original fails and this does not.
    **Which model:** ``MTT_musicnn`` (MagnaTagATune: instruments, moods, a few genres such as
    "classical" and "techno") or ``MSD_musicnn`` (Last.fm tags of a million songs: genres
    and decades).

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    path : str or path-like
        An audio file (wav, flac, ogg, mp3).
    model : {"MSD_musicnn", "MTT_musicnn"}
    top : int in 1..50
        How many tags.
    weights_dir : path-like, optional
        See :func:`~.weights.musicnn_checkpoint_dir`.

    Returns
    -------
    tags : FileTags
        ``.tags`` and ``.scores`` best first; ``.as_dict()`` for JSON.

    Raises
    ------
    AudioLoadError
        The file is missing, empty, not audio or corrupt (the message names it).
    MusicnnError
        Unknown model, ``top`` out of range, or the checkpoints are not installed (the
        message names the pip command).

    Examples
    --------
    >>> import tempfile
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> from bag_of_songs.data import write_clip
    >>> path = os.path.join(tempfile.mkdtemp(), "song.wav")
    >>> write_clip(path, synthesize_demo_clip("dance", 0, sr=16000, duration=6.0), sr=16000)
    >>> result = tag_file(path, model="MTT_musicnn", top=3)
    >>> len(result.tags), result.n_patches, result.scores[0] >= result.scores[1]
    (3, 2, True)
    """
    check_model(model)
    _check_top(top, len(musicnn_tags(model)))
    taggram = _taggram(path, model, weights_dir)
    ranked = rank_tags(taggram, model=model, top=top)
    return FileTags(file=os.fsdecode(path), model=model, tags=tuple(t for t, _ in ranked),
                    scores=tuple(s for _, s in ranked), n_patches=int(taggram.shape[0]))


def _mean_scores(path, *, model: str, weights_dir) -> np.ndarray:
    return _taggram(path, model, weights_dir).mean(axis=0)


def tag_files(paths: Iterable[str | os.PathLike], *, model: str = "MSD_musicnn",
              weights_dir: str | os.PathLike | None = None, n_jobs: int = -1,
              scheduler=None, progress: bool = True) -> pd.DataFrame:
    """The mean score of every tag for many audio files: one row per file, a column per tag.

    Each row is what :func:`tag_file` ranks (the taggram averaged over the file's 3 s
    patches); ``table.loc[file].nlargest(5)`` is its top 5. The files are decoded and run
    through the network in worker processes (:func:`bag_of_songs.parallel.map_parallel`; each
    worker loads the network once).

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    paths : iterable of str or path-like
        Audio files.
    model : {"MSD_musicnn", "MTT_musicnn"}
    weights_dir : path-like, optional
        See :func:`~.weights.musicnn_checkpoint_dir`.
    n_jobs, scheduler, progress
        See :func:`bag_of_songs.parallel.map_parallel` (1 job: in this process).

    Returns
    -------
    scores : pandas.DataFrame [shape=(n_files, 50)]
        Index ``file`` (the paths as given, as str), columns :func:`~.config.musicnn_tags`,
        values in [0, 1].

    Raises
    ------
    AudioLoadError
        A file cannot be decoded (the message names it; the map stops there).
    MusicnnError
        Unknown model, or the checkpoints are not installed.

    Examples
    --------
    >>> import tempfile
    >>> from bag_of_songs.demo import synthesize_demo_clip
    >>> from bag_of_songs.data import write_clip
    >>> folder = tempfile.mkdtemp()
    >>> paths = [os.path.join(folder, f"{g}.wav") for g in ("dance", "symphony")]
    >>> for p, g in zip(paths, ("dance", "symphony")):
    ...     write_clip(p, synthesize_demo_clip(g, 0, sr=16000, duration=6.0), sr=16000)
    >>> table = tag_files(paths, model="MTT_musicnn", n_jobs=1, progress=False)
    >>> table.shape, table.columns[:2].tolist()
    ((2, 50), ['guitar', 'classical'])
    """
    names = musicnn_tags(model)
    paths = [os.fsdecode(p) for p in paths]
    job = functools.partial(_mean_scores, model=model,
                            weights_dir=None if weights_dir is None else os.fspath(weights_dir))
    rows = list(map_parallel(job, paths, n_jobs=n_jobs, scheduler=scheduler,
                             desc=f"tagging ({model})", progress=progress))
    values = np.vstack(rows) if rows else np.empty((0, len(names)), dtype=np.float32)
    return pd.DataFrame(values, index=pd.Index(paths, name="file"), columns=names)
