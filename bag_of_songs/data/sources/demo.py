"""The demo corpus: synthetic clips in four styles, deterministic and offline.

The demo corpus is **synthetic**: it exists so that every step runs offline in seconds. Scores
measured on it say nothing about real music. Re-exported by :mod:`bag_of_songs.data` (and, for
old imports, by :mod:`bag_of_songs.demo`).

Explained in ``notebooks/1-data-preparation.ipynb`` (section 1, the ``demo`` source).
"""

from __future__ import annotations

import numpy as np

from ..._constants import DURATION, SAMPLE_RATE
from .base import Item

__all__ = ["DEMO_VERSION", "DEMO_STYLES", "synthesize_demo_clip", "list_demo_items"]

#: Version of the synthesiser: bumped whenever :func:`synthesize_demo_clip` changes its output,
#: so that ``prepare`` synthesises the clips of an older version again.
DEMO_VERSION = 1

DEMO_STYLES = {
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
    if style not in DEMO_STYLES:
        raise ValueError(f"unknown demo style {style!r}; choose from {sorted(DEMO_STYLES)}")
    rng = np.random.default_rng([seed, list(DEMO_STYLES).index(style)])
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
    for style, (fst, sec, *thr_by_parity) in DEMO_STYLES.items():
        for seed in range(n_per_style):
            thr = thr_by_parity[seed % 2]
            items.append(Item(
                source=f"demo:{style}:{seed}",
                labels={"fst_level_label": fst, "sec_level_label": sec, "thr_level_label": thr},
                kind="demo", payload=(style, seed),
                stamp=f"demo:{style}:{seed}:v{DEMO_VERSION}"))
    return items
