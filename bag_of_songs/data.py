"""Data preparation: load any labelled audio and homogenise it to 30 s mono clips at 22,050 Hz.

Explained in ``notebooks/1-data-preparation.ipynb``.

Every clip is decoded (wav, flac, ogg, mp3 via soundfile), mixed to mono, resampled to
``SAMPLE_RATE`` and cropped (from the start) or zero-padded (at the end) to ``N_SAMPLES``.
:func:`prepare` writes, per split::

    OUT/<split>/audios/audio_<split>_<i>.wav
    OUT/<split>/annotations.csv      audio_file (relative to OUT), label column(s), source
    OUT/<split>/skipped.csv          source, reason  (inputs that could not be decoded)

Sources: the CCMusic ``music_genre`` corpus, any Hugging Face audio dataset (hub id or local
path), a folder of genre subfolders, or the synthetic demo corpus.
"""

from __future__ import annotations

import io
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

__all__ = [
    "SAMPLE_RATE",
    "DURATION",
    "N_SAMPLES",
    "FRAME_SIZE",
    "HOP_LENGTH",
    "LEVELS",
    "CCMUSIC_CLASSES",
    "CCMUSIC_HIERARCHY",
    "AudioLoadError",
    "DataSourceError",
    "load_audio",
    "fix_length",
    "to_clip",
    "synthesize_demo_clip",
    "list_demo_items",
    "list_folder_items",
    "load_hf_dataset",
    "load_ccmusic",
    "split_items",
    "split_groups",
    "read_groups",
    "prepare",
    "read_annotations",
    "label_columns",
    "feature_columns",
    "NON_LABEL_COLUMNS",
    "atomic_write",
    "write_csv_atomic",
    "log_to_stderr",
    "default_data_dir",
    "default_img_dir",
    "PrepareReport",
    "list_splits",
    "class_balance",
    "read_skipped",
    "count_files",
    "imbalance",
]

#: Sampling rate of every prepared clip, in Hz.
SAMPLE_RATE = 22050
#: Length of every prepared clip, in seconds.
DURATION = 30.0
#: Length of every prepared clip, in samples (``SAMPLE_RATE * DURATION``).
N_SAMPLES = 661500
#: Frame size F of every frame-level feature, in samples.
FRAME_SIZE = 2048
#: Hop length H between frames, in samples.
HOP_LENGTH = 512

#: The three CCMusic label levels, coarse to fine.
LEVELS = ("fst_level_label", "sec_level_label", "thr_level_label")

#: CCMusic class names per level, in the order of the dataset's ``ClassLabel``s.
CCMUSIC_CLASSES = {
    "fst_level_label": ["Classic", "Non_classic"],
    "sec_level_label": [
        "Symphony", "Opera", "Solo", "Chamber", "Pop", "Dance_and_house", "Indie",
        "Soul_or_RnB", "Rock",
    ],
    "thr_level_label": [
        "Symphony", "Opera", "Solo", "Chamber", "Pop_vocal_ballad", "Adult_contemporary",
        "Teen_pop", "Contemporary_dance_pop", "Dance_pop", "Classic_indie_pop",
        "Chamber_cabaret_and_art_pop", "Soul_or_RnB", "Adult_alternative_rock",
        "Uplifting_anthemic_rock", "Soft_rock", "Acoustic_pop",
    ],
}

#: How the CCMusic levels nest: second-level class -> (first-level class, third-level classes).
CCMUSIC_HIERARCHY = {
    "Symphony": ("Classic", ["Symphony"]),
    "Opera": ("Classic", ["Opera"]),
    "Solo": ("Classic", ["Solo"]),
    "Chamber": ("Classic", ["Chamber"]),
    "Pop": ("Non_classic", ["Pop_vocal_ballad", "Adult_contemporary", "Teen_pop"]),
    "Dance_and_house": ("Non_classic", ["Contemporary_dance_pop", "Dance_pop"]),
    "Indie": ("Non_classic", ["Classic_indie_pop", "Chamber_cabaret_and_art_pop"]),
    "Soul_or_RnB": ("Non_classic", ["Soul_or_RnB"]),
    "Rock": ("Non_classic", [
        "Adult_alternative_rock", "Uplifting_anthemic_rock", "Soft_rock", "Acoustic_pop",
    ]),
}

# Older revisions of the CCMusic loading script spell some classes differently.
_CLASS_ALIASES = {"Soul_or_r_and_b": "Soul_or_RnB"}

#: File endings read by the folder source (others in a genre folder are reported as skipped).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")

#: Genre-folder names that count as Classic when a folder source derives ``fst_level_label``.
CLASSIC_FOLDER_NAMES = (
    "classic", "classical", "symphony", "opera", "solo", "chamber", "baroque", "orchestral",
)

_CCMUSIC_ID = "ccmusic-database/music_genre"


def _project_dir() -> Path:
    """The repository checkout the package runs from, or the working directory otherwise."""
    root = Path(__file__).resolve().parents[1]
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


class AudioLoadError(RuntimeError):
    """An audio file or buffer could not be decoded into a clip.

    The message names the file and the reason.
    """


class DataSourceError(RuntimeError):
    """A data source could not be loaded, or has no usable audio or labels."""


# ---------------------------------------------------------------------------------------------
# Audio loading


def fix_length(y: np.ndarray, n_samples: int = N_SAMPLES) -> np.ndarray:
    """Crop a signal from the start or zero-pad it at the end to exactly ``n_samples``.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 4, homogenisation).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal.
    n_samples : int > 0
        Target length in samples (default 661,500 = 30 s at 22,050 Hz).

    Returns
    -------
    y_fixed : np.ndarray [shape=(n_samples,), dtype=float32]

    Raises
    ------
    ValueError
        If ``y`` is not 1-D, is empty, or holds non-finite samples (a dataset row with no
        audio must not become a silent clip).
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"fix_length expects a mono signal of shape (n,), got shape {y.shape}")
    if n_samples <= 0:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    if y.size == 0:
        raise ValueError("the signal holds no samples")
    if not np.all(np.isfinite(y)):
        raise ValueError("the signal holds non-finite samples (NaN or infinity)")
    if len(y) >= n_samples:
        return np.ascontiguousarray(y[:n_samples])
    out = np.zeros(n_samples, dtype=np.float32)
    out[: len(y)] = y
    return out


def to_clip(
    y: np.ndarray,
    orig_sr: int,
    *,
    sr: int = SAMPLE_RATE,
    duration: float = DURATION,
    channel_axis: int = -1,
) -> np.ndarray:
    """Homogenise a decoded signal: mono, ``sr`` Hz, exactly ``duration`` seconds.

    Use this for arrays that come from a dataset (e.g. a Hugging Face ``Audio`` column).

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 4, homogenisation).

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n, channels)]
        Decoded audio, floating point in [-1, 1] or PCM integers (scaled by their range).
        For 2-D input the channels lie along ``channel_axis``.
    orig_sr : int > 0
        Sampling rate of ``y``.
    sr : int > 0
        Target sampling rate.
    duration : float > 0
        Target length in seconds; longer signals are cropped from the start, shorter ones
        zero-padded at the end.
    channel_axis : int
        Axis of the channels for 2-D input (soundfile's layout, ``-1``, by default).

    Returns
    -------
    y_clip : np.ndarray [shape=(round(sr * duration),), dtype=float32]

    Raises
    ------
    ValueError
        If the signal is empty or holds non-finite samples.
    """
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer):  # PCM integers: scale to [-1, 1) as soundfile does
        y = y.astype(np.float32) / np.float32(-np.iinfo(y.dtype).min)
    y = y.astype(np.float32, copy=False)
    if y.ndim == 2:
        y = y.mean(axis=channel_axis, dtype=np.float32)
    elif y.ndim != 1:
        raise ValueError(f"expected audio of shape (n,) or (n, channels), got shape {y.shape}")
    if y.size == 0:
        raise ValueError("the signal holds no samples")
    if not np.all(np.isfinite(y)):
        raise ValueError("the signal holds non-finite samples (NaN or infinity)")
    if orig_sr <= 0:
        raise ValueError(f"invalid sampling rate {orig_sr}")
    n_samples = int(round(sr * duration))
    # Only resample what the crop keeps (plus a little for the resampler's edge).
    keep = int(math.ceil(duration * orig_sr))
    if len(y) > keep:
        y = y[:keep]
    if orig_sr != sr:
        import librosa

        y = librosa.resample(y, orig_sr=orig_sr, target_sr=sr, res_type="soxr_hq")
    return fix_length(y, n_samples)


def load_audio(
    path: str | os.PathLike | io.IOBase,
    *,
    sr: int = SAMPLE_RATE,
    duration: float = DURATION,
) -> np.ndarray:
    """Decode an audio file into a mono ``sr`` Hz clip of exactly ``duration`` seconds.

    Decodes wav, flac, ogg and mp3 with soundfile, reading only the first ``duration`` seconds;
    mixes the channels to mono (their mean), resamples with soxr (as ``librosa.load`` does),
    then crops from the start or zero-pads at the end. The result equals
    ``librosa.fix_length(librosa.load(path, sr=sr, duration=duration)[0], size=...)``.

    Explained in ``notebooks/1-data-preparation.ipynb``.

    Parameters
    ----------
    path : str, path-like or binary file object
        The audio file.
    sr : int > 0
        Target sampling rate (default 22,050 Hz).
    duration : float > 0
        Target length in seconds (default 30).

    Returns
    -------
    y : np.ndarray [shape=(round(sr * duration),), dtype=float32]
        With the defaults, shape ``(661500,)``.

    Raises
    ------
    AudioLoadError
        If the file is missing, empty, not audio, corrupt, or holds non-finite samples.

    Examples
    --------
    >>> y = load_audio("song.mp3")  # doctest: +SKIP
    >>> y.shape  # doctest: +SKIP
    (661500,)
    """
    if isinstance(path, (str, os.PathLike)):
        name = os.fspath(path)  # the whole path (a Path's .name would be the base name only)
    else:
        name = str(getattr(path, "name", None) or path)
    if isinstance(path, (str, os.PathLike)):
        p = Path(path)
        if not p.exists():
            raise AudioLoadError(f"{name}: no such file")
        if p.is_dir():
            raise AudioLoadError(f"{name}: is a folder, not an audio file")
        if p.stat().st_size == 0:
            raise AudioLoadError(f"{name}: the file is empty")
    try:
        with sf.SoundFile(path) as f:
            orig_sr = f.samplerate
            n_read = int(np.round(orig_sr * duration))
            y = f.read(frames=n_read, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError, EOFError) as exc:
        reason = str(exc).strip() or type(exc).__name__
        if "does not exist" in reason:
            # libsndfile says "File does not exist or is not a regular file" when its MP3
            # decoder rejects the content of a file that does exist.
            reason = "not a recognised audio format, or a corrupt file"
        raise AudioLoadError(f"{name}: cannot decode audio ({reason})") from exc
    if y.shape[0] == 0:
        raise AudioLoadError(f"{name}: holds no audio samples")
    try:
        return to_clip(y, orig_sr, sr=sr, duration=duration)
    except ValueError as exc:
        raise AudioLoadError(f"{name}: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Items: one per clip to prepare


@dataclass
class Item:
    """One clip to prepare: where it comes from, its labels, and how to get its audio."""

    source: str
    labels: dict
    kind: str  # "path", "bytes", "demo"
    payload: object = None
    split: str = ""
    index: int = -1


# ---------------------------------------------------------------------------------------------
# Demo corpus (synthetic)

_DEMO_STYLES = {
    # style: (fst, sec, thr for even seeds, thr for odd seeds)
    "symphony": ("Classic", "Symphony", "Symphony", "Symphony"),
    "solo": ("Classic", "Solo", "Solo", "Solo"),
    "rock": ("Non_classic", "Rock", "Soft_rock", "Uplifting_anthemic_rock"),
    "dance": ("Non_classic", "Dance_and_house", "Dance_pop", "Contemporary_dance_pop"),
}

_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])


def _midi_to_hz(m):
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=float) - 69.0) / 12.0)


def _add(out: np.ndarray, start: int, x: np.ndarray) -> None:
    if start >= len(out):
        return
    n = min(len(x), len(out) - start)
    out[start : start + n] += x[:n]


def _tone(f0, n, sr, rng, *, partials, decay, vibrato_hz=0.0, vibrato_depth=0.0, attack=0.01,
          release=0.1):
    """A harmonic tone: ``partials`` harmonics with amplitudes ``decay**k``, optional vibrato."""
    t = np.arange(n) / sr
    phase_f0 = 2 * np.pi * f0 * t
    if vibrato_depth > 0:
        phase_f0 = phase_f0 + (vibrato_depth * f0 / vibrato_hz) * np.sin(
            2 * np.pi * vibrato_hz * t + rng.uniform(0, 2 * np.pi))
    y = np.zeros(n)
    for k in range(1, partials + 1):
        if f0 * k >= sr / 2:
            break
        y += decay ** (k - 1) * np.sin(k * phase_f0)
    env = np.ones(n)
    a = max(1, min(n, int(attack * sr)))
    r = max(1, min(n - a, int(release * sr))) if n > a else 1
    env[:a] = np.linspace(0, 1, a) ** 2
    if n > a:
        env[n - r :] *= np.linspace(1, 0, r)
    return y * env


def _noise_burst(n, sr, rng, *, decay_s, highpass=False):
    x = rng.standard_normal(n)
    if highpass:
        x = np.diff(x, prepend=0.0)
    return x * np.exp(-np.arange(n) / (decay_s * sr))


def _kick(sr, rng):
    n = int(0.25 * sr)
    t = np.arange(n) / sr
    f = 50 + 100 * np.exp(-t / 0.03)
    return np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.12)


def synthesize_demo_clip(
    style: str, seed: int, *, sr: int = SAMPLE_RATE, duration: float = DURATION
) -> np.ndarray:
    """Synthesise one deterministic demo clip of a given style.

    The demo corpus is **synthetic**: it exists so that every step runs offline in seconds.
    Scores measured on it say nothing about real music.

    Styles and their labels (CCMusic's three-level scheme):

    - ``"symphony"`` (Classic / Symphony / Symphony): sustained chords of several harmonic
      voices with vibrato and slow attacks, no percussion.
    - ``"solo"`` (Classic / Solo / Solo): one melodic voice with vibrato and slow attacks.
    - ``"rock"`` (Non_classic / Rock): kick, snare and hi-hat pattern, bass, clipped power
      chords with sharp attacks; even seeds are Soft_rock (slower, lighter distortion), odd
      seeds Uplifting_anthemic_rock (faster, heavier distortion, eighth-note hi-hats).
    - ``"dance"`` (Non_classic / Dance_and_house): four-on-the-floor kick, off-beat hi-hats,
      a saw-like synth bass and stabs; even seeds are Dance_pop, odd seeds
      Contemporary_dance_pop (sixteenth-note hi-hats, brighter stabs).

    Key, mode, tempo, timbre (number and strength of partials) and loudness vary with ``seed``.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 1, the ``demo`` source).

    Parameters
    ----------
    style : str
        One of ``"symphony"``, ``"solo"``, ``"rock"``, ``"dance"``.
    seed : int
        Seed of the clip's random generator: the same (style, seed) gives the same clip.
    sr : int
        Sampling rate.
    duration : float
        Length in seconds.

    Returns
    -------
    y : np.ndarray [shape=(round(sr * duration),), dtype=float32]
        Peak-normalised to a seed-dependent level below 1.

    Raises
    ------
    ValueError
        On an unknown style.
    """
    if style not in _DEMO_STYLES:
        raise ValueError(f"unknown demo style {style!r}; choose from {sorted(_DEMO_STYLES)}")
    rng = np.random.default_rng([seed, list(_DEMO_STYLES).index(style)])
    n_total = int(round(sr * duration))
    out = np.zeros(n_total)
    key = int(rng.integers(0, 12))
    scale = _MAJOR if rng.random() < 0.5 else _MINOR

    def pitch(degree, octave):
        return 12 * octave + key + scale[degree % 7] + 12 * (degree // 7)

    if style in ("symphony", "solo"):
        tempo = rng.uniform(50, 90)
        beat = 60.0 / tempo
        partials = int(rng.integers(4, 10))
        decay = rng.uniform(0.4, 0.75)
        vib_hz, vib_depth = rng.uniform(4.5, 6.5), rng.uniform(0.003, 0.008)
        t0 = 0.0
        degree = int(rng.integers(0, 7))
        while t0 < duration:
            length = beat * float(rng.choice([1, 2, 2, 3, 4]))
            n = int(length * sr * 1.15)  # notes overlap slightly (legato)
            if style == "symphony":
                root = int(rng.integers(0, 7))
                voices = [pitch(root, 3), pitch(root + 2, 4), pitch(root + 4, 4), pitch(root, 5)]
                for m in voices:
                    _add(out, int(t0 * sr), 0.25 * _tone(
                        _midi_to_hz(m) * (1 + rng.normal(0, 0.001)), n, sr, rng,
                        partials=partials, decay=decay, vibrato_hz=vib_hz,
                        vibrato_depth=vib_depth, attack=rng.uniform(0.3, 0.8), release=0.4))
            else:
                degree = int(np.clip(degree + rng.integers(-2, 3), -3, 10))
                _add(out, int(t0 * sr), _tone(
                    _midi_to_hz(pitch(degree, 5)), n, sr, rng, partials=partials, decay=decay,
                    vibrato_hz=vib_hz, vibrato_depth=vib_depth * 1.5,
                    attack=rng.uniform(0.15, 0.4), release=0.3))
            t0 += length
    else:
        variant = seed % 2  # the third-level class within the style
        if style == "rock":
            tempo = rng.uniform(120, 140) if variant else rng.uniform(85, 110)
        else:
            tempo = rng.uniform(124, 132) if variant else rng.uniform(116, 124)
        drive = 6.0 if variant else 2.0
        beat = 60.0 / tempo
        kick = _kick(sr, rng)
        snare = 0.5 * _noise_burst(int(0.2 * sr), sr, rng, decay_s=0.05)
        hat = 0.2 * _noise_burst(int(0.06 * sr), sr, rng, decay_s=0.015, highpass=True)
        progression = [int(d) for d in rng.choice(7, size=4)]
        bass_partials = int(rng.integers(6, 16))
        n_beats = int(duration / beat) + 1
        for b in range(n_beats):
            t = b * beat
            i = int(t * sr)
            bar, pos = divmod(b, 4)
            chord = progression[bar % 4]
            if style == "rock":
                if pos in (0, 2):
                    _add(out, i, kick)
                if pos in (1, 3):
                    _add(out, i, snare)
                for half in (0, 1):
                    _add(out, i + int(half * beat / 2 * sr), (0.6 + 0.6 * variant) * hat)
                if pos == 0:
                    n = int(4 * beat * sr)
                    power = sum(_tone(_midi_to_hz(m), n, sr, rng, partials=8, decay=0.8,
                                      attack=0.005, release=0.05)
                                for m in (pitch(chord, 4), pitch(chord, 4) + 7))
                    _add(out, i, 0.35 * np.tanh(drive * power))
            else:
                _add(out, i, kick)
                _add(out, i + int(beat / 2 * sr), 1.5 * hat)
                if variant:
                    for q in (1, 3):
                        _add(out, i + int(q * beat / 4 * sr), 0.8 * hat)
                if pos in (1, 3):
                    _add(out, i + int(beat / 2 * sr), 0.6 * _tone(
                        _midi_to_hz(pitch(chord + 2, 5 + variant)), int(0.15 * sr), sr, rng,
                        partials=10, decay=0.7 + 0.2 * variant, attack=0.002, release=0.05))
            _add(out, i, 0.5 * _tone(_midi_to_hz(pitch(chord, 2)), int(0.9 * beat * sr), sr, rng,
                                     partials=bass_partials, decay=0.85, attack=0.005,
                                     release=0.05))
    out += 1e-3 * rng.standard_normal(n_total)  # a little room noise
    out *= rng.uniform(0.3, 0.9) / max(np.max(np.abs(out)), 1e-9)
    return out.astype(np.float32)


def list_demo_items(n_per_style: int = 20) -> list[Item]:
    """The demo corpus: ``n_per_style`` clips of each style of :func:`synthesize_demo_clip`.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 1, the ``demo`` source).

    Parameters
    ----------
    n_per_style : int >= 1
        Clips per style (seeds ``0 .. n_per_style - 1``).

    Returns
    -------
    items : list of Item [length 4 * n_per_style]
        Labelled with CCMusic's three levels; the audio is synthesised when prepared.

    Raises
    ------
    ValueError
        When ``n_per_style`` is below 1.
    """
    if n_per_style < 1:
        raise ValueError(f"n_per_style must be at least 1, got {n_per_style}")
    items = []
    for style, (fst, sec, *thr_by_parity) in _DEMO_STYLES.items():
        for seed in range(n_per_style):
            thr = thr_by_parity[seed % 2]
            items.append(Item(
                source=f"demo:{style}:{seed}",
                labels={"fst_level_label": fst, "sec_level_label": sec, "thr_level_label": thr},
                kind="demo", payload=(style, seed)))
    return items


# ---------------------------------------------------------------------------------------------
# Folder source


def _is_classic_folder(name: str) -> bool:
    return name.lower() in CLASSIC_FOLDER_NAMES


def list_folder_items(root: str | os.PathLike, *, classic: Iterable[str] | None = None
                      ) -> list[Item]:
    """List the clips of a folder of genre subfolders, ``ROOT/<genre>/<file>``.

    Every non-hidden file below a genre folder is an item with ``label`` = the folder name
    (files that turn out not to be audio are skipped and reported by :func:`prepare`).
    When the genres include Classic ones (``classic``, or by default folders named like
    ``classical``, ``symphony``, ``opera``...) and others, a ``fst_level_label`` column
    (``Classic`` / ``Non_classic``) is added, matching CCMusic's first level.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 1, a folder source).

    Parameters
    ----------
    root : path-like
        The folder whose subfolders are the genres.
    classic : iterable of str, optional
        Genre folder names that are Classic. Default: :data:`CLASSIC_FOLDER_NAMES`.

    Returns
    -------
    items : list of Item
        Sorted by genre and path, so the order (and so the output names) is reproducible.

    Raises
    ------
    DataSourceError
        When ``root`` is not a folder, has no genre subfolders, or they hold no files.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataSourceError(f"{root}: not a folder")
    genres = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not genres:
        raise DataSourceError(
            f"{root}: no genre subfolders found (expected ROOT/<genre>/<audio files>)")
    classic_set = {c.lower() for c in classic} if classic is not None else None
    is_classic = {g.name: (g.name.lower() in classic_set) if classic_set is not None
                  else _is_classic_folder(g.name) for g in genres}
    add_fst = any(is_classic.values()) and not all(is_classic.values())
    items = []
    for g in genres:
        files = sorted(p for p in g.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
        for p in files:
            labels = {"label": g.name}
            if add_fst:
                labels["fst_level_label"] = "Classic" if is_classic[g.name] else "Non_classic"
            items.append(Item(source=str(p.relative_to(root)), labels=labels, kind="path",
                              payload=str(p)))
    if not items:
        raise DataSourceError(f"{root}: the genre folders hold no files")
    return items


# ---------------------------------------------------------------------------------------------
# Hugging Face datasets


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
    import datasets

    p = Path(source)
    try:
        if p.is_dir() and any((p / f).exists() for f in
                              ("dataset_dict.json", "state.json", "dataset_info.json")):
            ds = datasets.load_from_disk(str(p))
        else:
            kwargs = {"name": name, "revision": revision}
            if trust_remote_code:
                kwargs["trust_remote_code"] = True
            ds = datasets.load_dataset(str(source), **kwargs)
    except DataSourceError:
        raise
    except Exception as exc:  # datasets raises many types (connection, file, value errors)
        raise DataSourceError(
            f"could not load the Hugging Face dataset {str(source)!r}"
            f"{f' (config {name!r})' if name else ''}"
            f"{f' at revision {revision!r}' if revision else ''}: "
            f"{type(exc).__name__}: {exc}") from exc
    return _as_dataset_dict(ds)


def _audio_column(dsdict) -> str | None:
    import datasets

    first = next(iter(dsdict.values()))
    for col, feat in first.features.items():
        if isinstance(feat, datasets.Audio):
            return col
    return None


_CCMUSIC_WAYS_OUT = (
    "The hub's main branch of ccmusic-database/music_genre now serves only an 'eval' config of "
    "spectrogram images, without audio. Ways out: (1) pass --revision with a revision that "
    "still has the loading script music_genre.py (needs datasets<4 and trust_remote_code); "
    "(2) download the 'default' subset from ModelScope (ccmusic-database/music_genre) and pass "
    "the saved dataset with --dataset-path; (3) arrange a local copy of the songs as a folder "
    "of genre subfolders and prepare that folder."
)


def load_ccmusic(*, revision: str | None = None, path: str | os.PathLike | None = None):
    """Load CCMusic's raw-audio ``music_genre`` corpus (``default`` subset) as a ``DatasetDict``.

    As in the original study: ``datasets.load_dataset("ccmusic-database/music_genre",
    name="default", trust_remote_code=True, revision=revision)``; or, with ``path``, a local
    copy of the same schema (a ``save_to_disk`` folder, e.g. from ModelScope).

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 1).

    Parameters
    ----------
    revision : str, optional
        A hub revision that still has the loading script ``music_genre.py`` (needs
        ``datasets<4``). Not used with ``path``.
    path : path-like, optional
        A local copy of the ``default`` subset (a ``save_to_disk`` folder).

    Returns
    -------
    dsdict : datasets.DatasetDict
        CCMusic's splits, with an audio column and the three label levels of :data:`LEVELS`.

    Raises
    ------
    DataSourceError
        When it cannot be loaded, or when what loads has no audio column (the hub's ``main``
        branch now serves only spectrogram images): the message names the ways out. Also
        when a label level is missing.
    """
    try:
        if path is not None:
            dsdict = load_hf_dataset(path)
        else:
            dsdict = load_hf_dataset(_CCMUSIC_ID, name="default", revision=revision,
                                     trust_remote_code=True)
    except DataSourceError as exc:
        raise DataSourceError(f"{exc}\n{_CCMUSIC_WAYS_OUT}") from exc
    if _audio_column(dsdict) is None:
        cols = list(next(iter(dsdict.values())).features)
        raise DataSourceError(
            f"the CCMusic dataset that loaded has no audio column (columns: {cols}).\n"
            f"{_CCMUSIC_WAYS_OUT}")
    missing = [lv for lv in LEVELS if lv not in next(iter(dsdict.values())).features]
    if missing:
        raise DataSourceError(f"the CCMusic dataset lacks the label column(s) {missing}")
    return dsdict


def _class_name(feature, value) -> str:
    import datasets

    if isinstance(feature, datasets.ClassLabel):
        if value is None or value < 0:
            return ""
        name = feature.int2str(int(value))
    else:
        name = "" if value is None else str(value)
    return _CLASS_ALIASES.get(name, name)


def _hf_items(dsdict, *, label_column: str | None, source_name: str) -> dict[str, _Items]:
    """Items per split of a DatasetDict; the audio is read lazily as raw bytes or a path."""
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
        ds = ds.select_columns([audio_col, *label_cols]).cast_column(
            audio_col, datasets.Audio(decode=False))
        out[split] = _hf_split_items(ds, audio_col, label_cols, f"{source_name}:{split}")
    return out


class _Items:
    """A lazy sequence of Items: labels and sources are known up front, audio is read on demand.

    Keeps a Hugging Face dataset's audio bytes out of memory until a worker needs them.
    """

    def __init__(self, labels: list[dict], sources: list[str], get: Callable[[int], Item]):
        self.labels, self.sources, self._get = labels, sources, get

    @classmethod
    def from_list(cls, items: list[Item]) -> _Items:
        return cls([it.labels for it in items], [it.source for it in items],
                   items.__getitem__)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Item:
        return self._get(int(i))

    def subset(self, idx: list[int]) -> _Items:
        return _Items([self.labels[i] for i in idx], [self.sources[i] for i in idx],
                      lambda j: self._get(idx[j]))

    @staticmethod
    def concat(parts: list[_Items]) -> _Items:
        owners = [(p, j) for p in parts for j in range(len(p))]
        return _Items([lab for p in parts for lab in p.labels],
                      [s for p in parts for s in p.sources],
                      lambda i: owners[i][0][owners[i][1]])


def _hf_split_items(ds, audio_col: str, label_cols: list[str], prefix: str) -> _Items:
    # Labels are small: read them all once (needed for stratified splits and annotations).
    columns = [ds[c] for c in label_cols]
    labels = [{c: _class_name(ds.features[c], v) for c, v in zip(label_cols, vals, strict=True)}
              for vals in zip(*columns, strict=True)] if len(ds) else []
    sources = [f"{prefix}:{i}" for i in range(len(ds))]

    def get(i: int) -> Item:
        audio = ds[i][audio_col] or {}
        if audio.get("bytes"):
            return Item(sources[i], labels[i], "bytes", audio["bytes"])
        return Item(sources[i], labels[i], "path", audio.get("path"))

    return _Items(labels, sources, get)


# ---------------------------------------------------------------------------------------------
# Splits


def parse_splits(spec: str | dict | None) -> dict[str, float]:
    """Parse ``"train=0.8,validation=0.1,test=0.1"`` into a dict of fractions summing to 1.

    The fractions are divided by their sum, so ``"train=8,test=2"`` gives 0.8 and 0.2.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 1: folder and demo sources are split 80 / 10 / 10).

    Parameters
    ----------
    spec : str, dict or None
        ``"NAME=FRACTION,..."``, a dict split name -> fraction, or None for the default
        ``{"train": 0.8, "validation": 0.1, "test": 0.1}``.

    Returns
    -------
    fractions : dict split name -> float
        In the order given; the values sum to 1.

    Raises
    ------
    ValueError
        On a part without ``=``, a split given twice, a fraction that is not a number, is
        negative or not finite, fractions that are all zero (or none at all), or a split name
        that is empty, holds ``/`` or starts with ``.``.
    """
    if spec is None:
        return {"train": 0.8, "validation": 0.1, "test": 0.1}
    if isinstance(spec, dict):
        fractions = {str(k): float(v) for k, v in spec.items()}
    else:
        fractions = {}
        for part in str(spec).split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise ValueError(f"bad split spec {part!r}: expected NAME=FRACTION")
            k, v = part.split("=", 1)
            if k.strip() in fractions:
                raise ValueError(f"bad split spec {spec!r}: split {k.strip()!r} given twice")
            try:
                fractions[k.strip()] = float(v)
            except ValueError:
                raise ValueError(f"bad split fraction {v!r} for {k.strip()!r}") from None
    if (not fractions or not all(math.isfinite(v) and v >= 0 for v in fractions.values())
            or sum(fractions.values()) <= 0):
        raise ValueError(f"bad split spec {spec!r}: fractions must be finite, >= 0 and not all "
                         "zero")
    if any(not k or "/" in k or k.startswith(".") for k in fractions):
        raise ValueError(f"bad split name in {spec!r}")
    total = sum(fractions.values())
    return {k: v / total for k, v in fractions.items()}


def split_items(labels: list[str], fractions: dict[str, float], *, seed: int = 0
                ) -> dict[str, list[int]]:
    """Stratified, seeded split of item indices.

    Each class is shuffled with the seed and cut by the fractions (largest remainder), so every
    split gets its share of every class that is large enough.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 3, stratified splits).

    Parameters
    ----------
    labels : list of str [length n]
        The stratification label of each item.
    fractions : dict split name -> fraction
    seed : int

    Returns
    -------
    splits : dict split name -> sorted list of indices
    """
    rng = np.random.default_rng(seed)
    out = {k: [] for k in fractions}
    names = list(fractions)
    by_class: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_class.setdefault(lab, []).append(i)
    for lab in sorted(by_class):
        idx = np.array(by_class[lab])
        rng.shuffle(idx)
        n = len(idx)
        exact = np.array([fractions[k] * n for k in names])
        counts = np.floor(exact).astype(int)
        rest = n - counts.sum()
        # Largest remainder first; ties go to the split furthest below its share so far,
        # so that small classes do not all land in the same split.
        filled = [len(out[k]) / fractions[k] if fractions[k] > 0 else np.inf for k in names]
        order = sorted(range(len(names)), key=lambda j: (-(exact[j] - counts[j]), filled[j], j))
        for j in order[:rest]:
            counts[j] += 1
        start = 0
        for k, c in zip(names, counts, strict=True):
            out[k].extend(idx[start : start + c].tolist())
            start += c
    return {k: sorted(v) for k, v in out.items()}


def split_groups(labels: list[str], groups: list[str], fractions: dict[str, float], *,
                 seed: int = 0) -> dict[str, list[int]]:
    """Seeded split that keeps every group (e.g. an artist) whole, stratified by class.

    Clips of one artist in both training and test splits flatter every model; this split puts
    each group in exactly one split. Each group counts for its most common label; within a
    class, groups are shuffled with the seed and, largest first, each goes to the split
    furthest below its share of that class.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 3, stratified splits).

    Parameters
    ----------
    labels : list of str [length n]
        The stratification label of each item.
    groups : list of str [length n]
        The group of each item.
    fractions : dict split name -> fraction
    seed : int

    Returns
    -------
    splits : dict split name -> sorted list of indices
    """
    if len(labels) != len(groups):
        raise ValueError(f"{len(labels)} labels but {len(groups)} groups")
    rng = np.random.default_rng(seed)
    names = [k for k in fractions if fractions[k] > 0]
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(str(g), []).append(i)
    group_label = {}
    for g, idx in members.items():
        values, counts = np.unique([labels[i] for i in idx], return_counts=True)
        group_label[g] = str(values[np.argmax(counts)])
    out: dict[str, list[int]] = {k: [] for k in fractions}
    for lab in sorted(set(group_label.values())):
        gs = [str(g) for g in rng.permutation(sorted(g for g in group_label
                                                     if group_label[g] == lab))]
        gs.sort(key=lambda g: -len(members[g]))  # stable: equal sizes keep the seeded order
        total = sum(len(members[g]) for g in gs)
        got = dict.fromkeys(names, 0)
        for g in gs:
            k = max(names, key=lambda k: (fractions[k] * total - got[k], fractions[k]))
            got[k] += len(members[g])
            out[k].extend(members[g])
    return {k: sorted(v) for k, v in out.items()}


def read_groups(manifest: str | os.PathLike, *, group_column: str) -> dict[str, str]:
    """Map each clip's path (relative to the folder) to its group, from a manifest CSV.

    Parameters
    ----------
    manifest : path-like
        A CSV with a ``path`` column (relative to the genre folders' root, e.g.
        ``rock/001.mp3``) and ``group_column``.
    group_column : str
        E.g. ``artist``.

    Returns
    -------
    groups : dict path -> group
    """
    manifest = Path(manifest)
    if not manifest.exists():
        raise DataSourceError(f"{manifest}: no manifest to read groups from")
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    missing = [c for c in ("path", group_column) if c not in df.columns]
    if missing:
        raise DataSourceError(f"{manifest}: no column(s) {missing} (columns: {list(df.columns)})")
    return dict(zip(df["path"].to_numpy(), df[group_column].to_numpy(), strict=True))


# ---------------------------------------------------------------------------------------------
# Writing


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], suffix: str = ".tmp"
                 ) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``.

    Readers never see a half-written file; on any error the temporary file is removed.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 5: writes are atomic).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_csv_atomic(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a DataFrame as CSV through a temporary file and a rename (never half-written).

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 5: writes are atomic).
    """
    atomic_write(Path(path), lambda tmp: df.to_csv(tmp, index=False), ".csv.tmp")


def _decode_item(item: Item) -> np.ndarray:
    if item.kind == "demo":
        style, seed = item.payload
        return synthesize_demo_clip(style, seed)
    if item.kind == "bytes":
        buf = io.BytesIO(item.payload)
        buf.name = item.source
        return load_audio(buf)
    if item.kind == "path":
        if not item.payload:
            raise AudioLoadError(f"{item.source}: the dataset row has neither bytes nor a path")
        return load_audio(item.payload)
    raise ValueError(f"unknown item kind {item.kind!r}")


def _write_float_wav(path: str, y: np.ndarray) -> None:
    """A 32-bit float WAV: exact (no clipping or quantisation of the clip) and byte-for-byte
    reproducible (libsndfile would add a PEAK chunk with a time stamp)."""
    import scipy.io.wavfile

    scipy.io.wavfile.write(path, SAMPLE_RATE, np.ascontiguousarray(y, dtype=np.float32))


def _prepare_one(item: Item, wav_path: str) -> tuple[str, str | None]:
    """Decode, homogenise and atomically write one clip. Returns (status, reason)."""
    try:
        y = _decode_item(item)
    except AudioLoadError as exc:
        return "skipped", str(exc)
    atomic_write(
        Path(wav_path),
        lambda tmp: _write_float_wav(tmp, y),
        ".wav.tmp")
    return "written", None


def _wav_is_complete(path: Path) -> bool:
    try:
        info = sf.info(str(path))
    except Exception:
        return False
    return info.frames == N_SAMPLES and info.samplerate == SAMPLE_RATE and info.channels == 1


def _remove_stale_temp_files(split_dir: Path, split: str) -> None:
    """Delete the temporary files a killed run of :func:`prepare` left in ``split_dir``.

    Only names that :func:`atomic_write` gives this split's outputs match
    (``.audio_<split>_<i>.wav.<random>.wav.tmp``, ``.annotations.csv.<random>.csv.tmp``,
    ``.skipped.csv.<random>.csv.tmp``); nothing else is touched.
    """
    patterns = [(split_dir / "audios", f".audio_{split}_", ".wav.tmp"),
                (split_dir, ".annotations.csv.", ".csv.tmp"),
                (split_dir, ".skipped.csv.", ".csv.tmp")]
    for folder, prefix, suffix in patterns:
        for p in folder.iterdir():
            if p.name.startswith(prefix) and p.name.endswith(suffix) and p.is_file():
                p.unlink(missing_ok=True)


@dataclass
class PrepareReport:
    """What :func:`prepare` did: per split, the rows written and the inputs skipped.

    Explained in ``notebooks/1-data-preparation.ipynb``.
    """

    out_dir: Path
    written: dict = field(default_factory=dict)  # split -> number of clips listed
    reused: dict = field(default_factory=dict)  # split -> clips already complete (resume)
    skipped: dict = field(default_factory=dict)  # split -> list of (source, reason)

    @property
    def n_prepared(self) -> int:
        return sum(self.written.values())

    def summary(self) -> str:
        lines = []
        for split in self.written:
            n_skip = len(self.skipped.get(split, []))
            lines.append(f"{split}: {self.written[split]} clips"
                         f" ({self.reused.get(split, 0)} already prepared), {n_skip} skipped")
        return "\n".join(lines)


def _prepare_split(items: _Items, split: str, out_dir: Path, *, n_jobs: int, progress: bool,
                   report: PrepareReport, log: Callable[[str], None]) -> None:
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    split_dir = out_dir / split
    (split_dir / "audios").mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_files(split_dir, split)
    ann_path = split_dir / "annotations.csv"
    previous: dict[str, str] = {}
    if ann_path.exists():
        try:
            prev = pd.read_csv(ann_path, dtype=str, keep_default_na=False)
            previous = dict(zip(prev["audio_file"].to_numpy(), prev["source"].to_numpy(),
                                strict=True))
        except Exception:  # an unreadable old table is rebuilt from the WAVs we can verify
            previous = {}

    label_cols: list[str] = []
    for labels in items.labels:
        label_cols.extend(c for c in labels if c not in label_cols)
    rows: dict[int, dict] = {}
    todo: list[tuple[int, dict]] = []
    skipped: list[tuple[str, str]] = []
    for i in range(len(items)):
        rel = f"{split}/audios/audio_{split}_{i}.wav"
        row = {"audio_file": rel, **items.labels[i], "source": items.sources[i]}
        unlabelled = [c for c in label_cols if not str(items.labels[i].get(c, "")).strip()]
        if unlabelled:  # e.g. a ClassLabel of -1: nothing to learn from
            skipped.append((items.sources[i], f"no label in {unlabelled}"))
            log(f"skipped {items.sources[i]}: no label in {unlabelled}")
            continue
        # Resume: a clip listed for the same source whose WAV is complete is kept as it is.
        if previous.get(rel) == items.sources[i] and _wav_is_complete(out_dir / rel):
            rows[i] = row
        else:
            todo.append((i, row))
    report.reused[split] = len(rows)

    def flush():
        df = pd.DataFrame([rows[i] for i in sorted(rows)],
                          columns=["audio_file", *label_cols, "source"])
        write_csv_atomic(df, ann_path)

    if todo:
        jobs = (delayed(_prepare_one)(items[i], str(out_dir / row["audio_file"]))
                for i, row in todo)
        results = Parallel(n_jobs=n_jobs, return_as="generator", pre_dispatch="2*n_jobs")(jobs)
        last_flush = time.monotonic()
        with tqdm(total=len(todo), desc=f"prepare {split}", disable=not progress,
                  file=sys.stderr) as bar:
            try:
                for (i, row), (status, reason) in zip(todo, results, strict=True):
                    bar.update(1)
                    if status == "written":
                        rows[i] = row
                    else:
                        skipped.append((row["source"], reason))
                        log(f"skipped {row['source']}: {reason}")
                    if time.monotonic() - last_flush > 2.0:
                        flush()  # an interrupted run keeps what is complete
                        last_flush = time.monotonic()
            finally:
                flush()
    else:
        flush()
    skip_path = split_dir / "skipped.csv"
    if skipped or skip_path.exists():
        write_csv_atomic(pd.DataFrame(skipped, columns=["source", "reason"]), skip_path)
    report.written[split] = len(rows)
    report.skipped[split] = skipped


def prepare(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    split: str | None = None,
    splits: str | dict | None = None,
    label_column: str | None = None,
    revision: str | None = None,
    dataset_path: str | os.PathLike | None = None,
    config: str | None = None,
    trust_remote_code: bool = False,
    demo_size: int = 20,
    classic: Iterable[str] | None = None,
    group_column: str | None = None,
    manifest: str | os.PathLike | None = None,
    n_jobs: int = -1,
    seed: int = 0,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> PrepareReport:
    """Prepare a corpus: 30 s mono 22,050 Hz WAVs plus ``annotations.csv`` per split.

    Explained in ``notebooks/1-data-preparation.ipynb``.

    Parameters
    ----------
    source : str or path-like
        ``"demo"`` (synthetic, offline), ``"ccmusic"`` (CCMusic ``music_genre``), a folder of
        genre subfolders, a local Hugging Face dataset folder, or a hub id.
    out_dir : path-like
        Output folder. Only ``out_dir/<split>/`` of the splits prepared is written; nothing
        else in it is touched or deleted.
    split : str, optional
        Put the whole source into this one split (e.g. ``"test"``).
    splits : str or dict, optional
        Fractions for folder and demo sources (and single-split datasets), default
        ``"train=0.8,validation=0.1,test=0.1"``; stratified and seeded. Multi-split datasets
        keep their own splits.
    label_column : str, optional
        The label column of a Hugging Face dataset (default: the three CCMusic levels when
        present, else ``label``, else the only ``ClassLabel`` column).
    revision : str, optional
        Hub revision (CCMusic: one that still has the loading script).
    dataset_path : path-like, optional
        For ``source="ccmusic"``: a local copy of the corpus (``save_to_disk`` folder).
    config : str, optional
        Configuration (subset) name of a hub dataset.
    trust_remote_code : bool
        Let a hub dataset run its loading script (needed by script-based datasets such as
        CCMusic's ``default`` subset, which always sets it). Only for datasets you trust.
    demo_size : int
        Clips per style of the demo corpus.
    classic : iterable of str, optional
        For folder sources, the genre folders that are Classic (see :func:`list_folder_items`).
    group_column : str, optional
        For folder sources split by fractions: keep the clips that share this column of the
        manifest (e.g. ``artist``) in one split (see :func:`split_groups`), for honest
        evaluation. Clips the manifest does not list form groups of their own.
    manifest : path-like, optional
        The CSV with ``path`` and ``group_column`` (default ``ROOT/manifest.csv``).
    n_jobs : int
        Parallel worker processes (joblib; -1 = all cores).
    seed : int
        Seed of the split.
    progress : bool
        Show progress bars.
    log : callable, optional
        Receives one line per skipped input (default: print to stderr).

    Returns
    -------
    report : PrepareReport

    Raises
    ------
    DataSourceError
        When the source cannot be loaded or holds no usable audio or labels.
    """
    out_dir = Path(out_dir)
    if log is None:
        log = log_to_stderr
    src = str(source)
    grouped: dict[str, _Items] | None = None  # a dataset's own splits
    flat: _Items | None = None  # or one pool of items, split here
    folder_root: Path | None = None
    if src == "demo":
        flat = _Items.from_list(list_demo_items(demo_size))
    elif src == "ccmusic":
        grouped = _hf_items(load_ccmusic(revision=revision, path=dataset_path),
                            label_column=label_column, source_name="ccmusic")
    elif Path(src).is_dir() and not _looks_like_hf_folder(Path(src)):
        flat = _Items.from_list(list_folder_items(src, classic=classic))
        folder_root = Path(src)
    else:
        name = Path(src).name if Path(src).exists() else src
        dsdict = load_hf_dataset(src, name=config, revision=revision,
                                 trust_remote_code=trust_remote_code)
        grouped = _hf_items(dsdict, label_column=label_column, source_name=name)

    if grouped is not None and (split is not None or len(grouped) == 1):
        flat, grouped = _Items.concat(list(grouped.values())), None
    if grouped is None:
        if split is not None:
            grouped = {split: flat}
        else:
            fractions = parse_splits(splits)
            strat = _stratify_column(flat.labels, fractions)
            strat_labels = [lab.get(strat, "") for lab in flat.labels]
            if group_column is not None:
                if folder_root is None:
                    raise DataSourceError("group_column applies to folder sources only")
                groups = read_groups(manifest or folder_root / "manifest.csv",
                                     group_column=group_column)
                idx = split_groups(strat_labels, [groups.get(src, src) for src in flat.sources],
                                   fractions, seed=seed)
            else:
                idx = split_items(strat_labels, fractions, seed=seed)
            grouped = {k: flat.subset(v) for k, v in idx.items() if v}

    report = PrepareReport(out_dir=out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for split_name, items in grouped.items():
        _validate_split_name(split_name)
        if len(items) == 0:
            continue
        _prepare_split(items, split_name, out_dir, n_jobs=n_jobs, progress=progress,
                       report=report, log=log)
    if report.n_prepared == 0:
        raise DataSourceError(f"{src}: no clip could be prepared (see the skipped list)")
    return report


def _validate_split_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"invalid split name {name!r}")


def _stratify_column(labels: list[dict], fractions: dict[str, float]) -> str:
    """The finest label level whose classes are all large enough to reach every split.

    A class needs about ``1 / min(fraction)`` members to put one in the smallest split; when the
    finest level has smaller classes (a tiny corpus), stratify on a coarser one instead, so that
    every split still gets every coarse class.
    """
    present = [c for c in ("thr_level_label", "label", "sec_level_label", "fst_level_label")
               if labels and c in labels[0]]
    if not present:
        return next(iter(labels[0])) if labels and labels[0] else "label"
    smallest = min((f for f in fractions.values() if f > 0), default=1.0)
    need = int(np.ceil(1.0 / smallest - 1e-9))
    for c in present:
        counts: dict[str, int] = {}
        for lab in labels:
            counts[lab.get(c, "")] = counts.get(lab.get(c, ""), 0) + 1
        if min(counts.values()) >= need:
            return c
    return present[-1]


def _looks_like_hf_folder(p: Path) -> bool:
    if any((p / f).exists() for f in ("dataset_dict.json", "state.json", "dataset_info.json")):
        return True
    # A folder of data files (parquet/arrow) rather than genre subfolders.
    return any(p.glob("*.parquet")) or any(p.glob("*/*.parquet")) or any(p.glob("*.arrow"))


# ---------------------------------------------------------------------------------------------
# Reading prepared data


#: Columns of an annotations or features table that are neither labels nor features.
NON_LABEL_COLUMNS = ("audio_file", "source")


def read_annotations(split_dir: str | os.PathLike) -> pd.DataFrame:
    """Read ``split_dir/annotations.csv``, every column as text.

    Explained in ``notebooks/1-data-preparation.ipynb``.

    Parameters
    ----------
    split_dir : path-like
        A prepared split, e.g. ``ccmusic/train``.

    Returns
    -------
    annotations : pandas.DataFrame
        ``audio_file``, the label column(s), ``source``.

    Raises
    ------
    FileNotFoundError
        When there is no annotations file.
    ValueError
        When the file is not a readable annotations table.
    """
    path = Path(split_dir) / "annotations.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no annotations; run `bag-of-songs prepare` first")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path}: not a readable annotations table ({exc})") from exc
    if "audio_file" not in df.columns:
        raise ValueError(f"{path}: no 'audio_file' column (columns: {list(df.columns)})")
    return df


def label_columns(df: pd.DataFrame) -> list[str]:
    """The label columns of an annotations or features table.

    The CCMusic levels (coarse to fine), then ``label``, then any other text column except
    ``audio_file`` and ``source`` (e.g. a custom ``--label-column``). A features table read with
    :func:`bag_of_songs.models.read_features` carries its list in ``df.attrs``.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 2, label levels).

    Parameters
    ----------
    df : pandas.DataFrame
        An annotations table (:func:`read_annotations`) or a features table.

    Returns
    -------
    columns : list of str
        ``df.attrs["label_columns"]`` (those still in ``df``) when it is set, else as above.
    """
    if "label_columns" in df.attrs:
        return [c for c in df.attrs["label_columns"] if c in df.columns]
    known = [c for c in (*LEVELS, "label") if c in df.columns]
    others = [c for c in df.columns if c not in known and c not in NON_LABEL_COLUMNS
              and not pd.api.types.is_numeric_dtype(df[c])]
    return known + others


def feature_columns(df: pd.DataFrame, *, exclude: Iterable[str] = ()) -> list[str]:
    """The numeric feature columns of a table: everything but labels, ids and ``exclude``.

    Used in ``notebooks/3-models-prediction.ipynb`` (section 1), where
    :class:`~bag_of_songs.models.TabularDataset` picks its columns with it.

    Parameters
    ----------
    df : pandas.DataFrame
        A features table.
    exclude : iterable of str
        Further columns that are not features (e.g. GTZAN's ``length``).

    Returns
    -------
    columns : list of str
        In table order, every numeric column but ``audio_file``, ``source``, the label columns
        (:func:`label_columns`, the CCMusic levels and ``label``, even when numeric) and
        ``exclude``.
    """
    drop = set(NON_LABEL_COLUMNS) | set(label_columns(df)) | set(LEVELS) | {"label"} \
        | set(exclude)
    return [c for c in df.columns if c not in drop and pd.api.types.is_numeric_dtype(df[c])]


def log_to_stderr(msg: str) -> None:
    """The default progress logger: one line on stderr.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 7: skipped inputs are reported on screen).
    """
    print(msg, file=sys.stderr)


def list_splits(data_dir: str | os.PathLike) -> list[str]:
    """Splits under ``data_dir`` that have an ``annotations.csv`` (train, validation, test first).

    Explained in ``notebooks/1-data-preparation.ipynb``.

    Parameters
    ----------
    data_dir : path-like
        A prepared folder, e.g. ``ccmusic``.

    Returns
    -------
    splits : list of str
        ``train``, ``validation``, ``test`` first, then the other splits by name; empty when
        ``data_dir`` is not a folder or holds no prepared split.
    """
    data_dir = Path(data_dir)
    found = [p.name for p in data_dir.iterdir() if (p / "annotations.csv").exists()] \
        if data_dir.is_dir() else []
    order = {"train": 0, "validation": 1, "test": 2}
    return sorted(found, key=lambda s: (order.get(s, 3), s))



def class_balance(data_dir: str | os.PathLike) -> pd.DataFrame:
    """Clips per class, per split and label level, of a prepared folder.

    Explained in ``notebooks/1-data-preparation.ipynb``.

    Returns
    -------
    balance : pandas.DataFrame
        Columns ``split, level, class, count``, in split order (train, validation, test...).
    """
    rows = []
    for split in list_splits(data_dir):
        ann = read_annotations(Path(data_dir) / split)
        for level in label_columns(ann):
            counts = ann[level].astype(str).value_counts().sort_index()
            rows.extend({"split": split, "level": level, "class": c, "count": int(n)}
                        for c, n in counts.items())
    return pd.DataFrame(rows, columns=["split", "level", "class", "count"])


def read_skipped(data_dir: str | os.PathLike) -> pd.DataFrame:
    """Every input that preparation skipped, with its split and the reason.

    Explained in ``notebooks/1-data-preparation.ipynb``.

    Returns
    -------
    skipped : pandas.DataFrame
        Columns ``split, source, reason`` (empty when nothing was skipped).
    """
    frames = []
    for split in list_splits(data_dir):
        path = Path(data_dir) / split / "skipped.csv"
        if path.exists():
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            if len(df):
                frames.append(df.assign(split=split)[["split", "source", "reason"]])
    if not frames:
        return pd.DataFrame(columns=["split", "source", "reason"])
    return pd.concat(frames, ignore_index=True)


def count_files(data_dir: str | os.PathLike) -> pd.DataFrame:
    """Files of each prepared split: clips on disk, clips annotated, inputs skipped.

    Used in ``notebooks/1-data-preparation.ipynb`` (sections 2, 5 and 7) to check that every
    annotated clip exists and to count the inputs that could not be read.

    Parameters
    ----------
    data_dir : path-like
        A prepared folder (``data_dir/<split>/annotations.csv``).

    Returns
    -------
    counts : pandas.DataFrame [shape=(n_splits, 3)]
        Indexed by split (train, validation, test first), columns ``wav_files`` (WAV files in
        ``<split>/audios/``), ``annotated`` (rows of ``annotations.csv``) and ``skipped`` (rows
        of ``skipped.csv``, 0 without one). Empty when there is no prepared split.
    """
    data_dir = Path(data_dir)
    splits = list_splits(data_dir)
    skipped = read_skipped(data_dir)["split"].value_counts()
    counts = pd.DataFrame(
        {"wav_files": [sum(1 for _ in (data_dir / s / "audios").glob("*.wav")) for s in splits],
         "annotated": [len(read_annotations(data_dir / s)) for s in splits],
         "skipped": [int(skipped.get(s, 0)) for s in splits]},
        index=pd.Index(splits, name="split"), dtype=int)
    return counts


def imbalance(balance: pd.DataFrame, *, split: str | None = None) -> pd.DataFrame:
    """How unbalanced the classes of each label level are, in one split.

    Used in ``notebooks/1-data-preparation.ipynb`` (section 3): the further ``ratio`` is above
    1, the more the accuracy flatters a model that favours the large classes.

    Parameters
    ----------
    balance : pandas.DataFrame
        Columns ``split, level, class, count``, as returned by :func:`class_balance`.
    split : str, optional
        The split to measure (default: the first in ``balance``, normally ``train``).

    Returns
    -------
    imbalance : pandas.DataFrame [shape=(n_levels, 4)]
        Indexed by level (in ``balance``'s order), columns ``n_classes``, ``smallest`` and
        ``largest`` (clips in the smallest and the largest class) and ``ratio`` (largest over
        smallest). Only classes present in ``split`` count.

    Raises
    ------
    ValueError
        When ``balance`` has no row for ``split``.

    Examples
    --------
    >>> balance = pd.DataFrame({"split": ["train"] * 2, "level": ["label"] * 2,
    ...                         "class": ["a", "b"], "count": [30, 10]})
    >>> imbalance(balance).loc["label"].to_dict()
    {'n_classes': 2.0, 'smallest': 10.0, 'largest': 30.0, 'ratio': 3.0}
    """
    if split is None:
        if balance.empty:
            raise ValueError("the class balance table is empty")
        split = balance["split"].iloc[0]
    sub = balance[(balance["split"] == split) & (balance["count"] > 0)]
    if sub.empty:
        raise ValueError(f"no class counts for split {split!r} "
                         f"(splits: {list(dict.fromkeys(balance['split']))})")
    out = sub.groupby("level", sort=False)["count"].agg(n_classes="size", smallest="min",
                                                        largest="max")
    out["ratio"] = out["largest"] / out["smallest"]
    return out
