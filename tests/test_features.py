"""Tests of ``bag_of_songs.features``.

Parity with librosa's own functions on real clips, known answers on synthetic signals, the
column layout of a feature row, corpus tables (missing and corrupt clips, the CLI) and the
feature ranking. Speed and memory are measured by ``benchmarks/bench_features.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import librosa
import numpy as np
import pandas as pd
import pytest

from bag_of_songs import features as F
from bag_of_songs.cli import main as cli_main
from bag_of_songs.data import (
    FRAME_SIZE,
    HOP_LENGTH,
    LEVELS,
    SAMPLE_RATE,
    list_splits,
    load_audio,
    read_annotations,
)
from bag_of_songs.features import FeatureError
from bag_of_songs.features import compute as features_compute
from bag_of_songs.features import frames as features_frames
from bag_of_songs.features import tables as features_tables

SR = SAMPLE_RATE
RTOL = 1e-4  # the parity tolerance
BIN_HZ = SR / FRAME_SIZE  # 10.77 Hz between FFT bins

PITCHES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
SEED_COLUMNS = [
    "mean_envelope", "mean_rms", "mean_zcr", "mean_ber", "mean_spec_cent", "mean_spec_bw",
    "mean_rolloff",
    *[f"mean_chroma_stft{p}" for p in PITCHES],
    *[f"mean_mfcc{j}" for j in range(1, 14)],
]
SERIES = ["envelope", "rms", "zcr", "ber", "spec_cent", "spec_bw", "rolloff"]
EXTENDED_EXTRA = [
    *[f"mean_spectral_contrast{j}" for j in range(1, 8)],
    "mean_spectral_flatness",
    "mean_onset_strength",
    *[f"mean_delta_mfcc{j}" for j in range(1, 14)],
    "tempo",
]


def tone(freq: float, seconds: float = 2.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def interior(x: np.ndarray, n: int = 4) -> np.ndarray:
    """Drop the frames that reach into the zero padding at either end."""
    return x[..., n:-n]


# ---------------------------------------------------------------------------------------------
# Parity with librosa on real clips


def _librosa_ber(S_mag: np.ndarray) -> np.ndarray:
    power = S_mag.astype(np.float64) ** 2
    split = int(np.searchsorted(librosa.fft_frequencies(sr=SR, n_fft=FRAME_SIZE), 2000.0))
    return power[:split].sum(axis=0) / power[split:].sum(axis=0)


@pytest.fixture(scope="module", params=["classical", "electronic", "rock"])
def real(request, emotify_clips):
    """A real clip and librosa's own feature series for it (classical, electronic, rock)."""
    path = next(p for p in emotify_clips if p.parent.name == request.param)
    y = load_audio(path)
    S = np.abs(librosa.stft(y, n_fft=FRAME_SIZE, hop_length=HOP_LENGTH))
    padded = np.pad(y, FRAME_SIZE // 2)
    ref = {
        "envelope": librosa.util.frame(padded, frame_length=FRAME_SIZE,
                                       hop_length=HOP_LENGTH).max(axis=0),
        "rms": librosa.feature.rms(y=y)[0],
        "zcr": librosa.feature.zero_crossing_rate(y)[0],
        "ber": _librosa_ber(S),
        "spec_cent": librosa.feature.spectral_centroid(y=y, sr=SR)[0],
        "spec_bw": librosa.feature.spectral_bandwidth(y=y, sr=SR)[0],
        "rolloff": librosa.feature.spectral_rolloff(y=y, sr=SR)[0],
        "chroma_stft": librosa.feature.chroma_stft(y=y, sr=SR, tuning=0.0),
        "mfcc": librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13),
    }
    return {"name": request.param, "y": y, "S": S, "ref": ref}


def assert_rolloff_close(ours: np.ndarray, ref: np.ndarray) -> None:
    """Roll-off is a bin's frequency: a float32 tie may move a few frames by one bin."""
    assert ours.shape == ref.shape
    off = ours != ref
    assert off.mean() < 0.005, f"{off.sum()} of {off.size} frames differ"
    assert np.all(np.abs(ours - ref)[off] <= BIN_HZ * 1.001)
    np.testing.assert_allclose(ours.mean(), ref.mean(), rtol=RTOL)


def test_frame_features_match_librosa(real):
    ours = F.compute_frame_features(real["y"])
    ref = real["ref"]
    assert set(ours) == set(ref)
    for name in ("envelope", "rms", "zcr", "ber", "spec_cent", "spec_bw", "chroma_stft"):
        assert ours[name].shape == ref[name].shape, name
        np.testing.assert_allclose(ours[name], ref[name], rtol=RTOL, atol=1e-7, err_msg=name)
    np.testing.assert_allclose(ours["mfcc"], ref["mfcc"], rtol=RTOL, atol=1e-3)
    assert_rolloff_close(ours["rolloff"], ref["rolloff"])


def test_public_functions_match_librosa(real):
    y, S, ref = real["y"], real["S"], real["ref"]
    ours = F.compute_spectrogram(y)
    assert ours.shape == S.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, S, rtol=RTOL, atol=1e-6 * S.max())
    np.testing.assert_array_equal(F.amplitude_envelope(y), ref["envelope"])
    np.testing.assert_allclose(F.rms(y=y), ref["rms"], rtol=RTOL, atol=1e-7)
    np.testing.assert_allclose(F.zero_crossing_rate(y), ref["zcr"], rtol=RTOL)
    np.testing.assert_allclose(F.band_energy_ratio(y=y), ref["ber"], rtol=RTOL)
    np.testing.assert_allclose(F.spectral_centroid(y=y), ref["spec_cent"], rtol=RTOL)
    np.testing.assert_allclose(F.spectral_bandwidth(y=y), ref["spec_bw"], rtol=RTOL)
    assert_rolloff_close(F.spectral_rolloff(y=y), ref["rolloff"])
    np.testing.assert_allclose(F.chroma(y=y, tuning=0.0), ref["chroma_stft"], rtol=RTOL,
                               atol=1e-7)
    np.testing.assert_allclose(F.mfcc(y=y), ref["mfcc"], rtol=RTOL, atol=1e-3)
    # The S= paths against librosa's own S= paths.
    np.testing.assert_allclose(F.rms(S=S), librosa.feature.rms(S=S)[0], rtol=RTOL, atol=1e-7)
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=S**2, sr=SR))
    np.testing.assert_allclose(F.log_mel_spectrogram(y=y), mel_db, rtol=RTOL, atol=1e-3)
    np.testing.assert_allclose(F.mfcc(S=mel_db), librosa.feature.mfcc(S=mel_db, n_mfcc=13),
                               rtol=RTOL, atol=1e-3)


def test_pooled_values_match_means_of_librosa_series(real):
    row = F.extract_features(real["y"])
    ref = real["ref"]
    expected = {f"mean_{name}": ref[name].mean() for name in SERIES}
    expected.update({f"mean_chroma_stft{p}": v
                     for p, v in zip(PITCHES, ref["chroma_stft"].mean(axis=1), strict=True)})
    expected.update({f"mean_mfcc{j + 1}": v
                     for j, v in enumerate(ref["mfcc"].mean(axis=1))})
    assert list(row) == list(expected)
    for col, want in expected.items():
        # MFCC means near zero carry librosa's float32 noise (about 1e-4 absolute).
        atol = 1e-4 if col.startswith("mean_mfcc") else 0.0
        np.testing.assert_allclose(row[col], want, rtol=RTOL, atol=atol, err_msg=col)


def test_estimated_tuning_matches_librosa(real):
    """tuning=None estimates from the shared power spectrogram, as librosa's chroma_stft."""
    want = librosa.feature.chroma_stft(y=real["y"], sr=SR, tuning=None)
    got = F.compute_frame_features(real["y"], tuning=None)["chroma_stft"]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(F.chroma(y=real["y"], tuning=None), want, rtol=RTOL, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Columns of a row


@pytest.fixture(scope="module")
def noise_clip():
    return (np.random.default_rng(7).standard_normal(SR * 3) * 0.1).astype(np.float32)


def test_default_columns_are_the_studys_32(noise_clip):
    row = F.extract_features(noise_clip)
    assert list(row) == SEED_COLUMNS
    assert len(row) == 32
    assert all(isinstance(v, float) and np.isfinite(v) for v in row.values())
    assert F.feature_names() == SEED_COLUMNS


def test_std_adds_its_own_block(noise_clip):
    row = F.extract_features(noise_clip, stats=("mean", "std"))
    std_cols = [c.replace("mean_", "std_", 1) for c in SEED_COLUMNS]
    assert list(row) == SEED_COLUMNS + std_cols
    assert len(row) == 64
    frames = F.compute_frame_features(noise_clip)
    assert row["std_rms"] == pytest.approx(float(np.std(frames["rms"])), rel=1e-6)
    assert row["std_mfcc2"] == pytest.approx(float(np.std(frames["mfcc"][1])), rel=1e-6)
    # A comma-separated string works too (as the CLI passes it).
    assert F.extract_features(noise_clip, stats="mean,std") == row


@pytest.mark.parametrize("stat, fn", [("median", np.median), ("min", np.min), ("max", np.max)])
def test_other_statistics(noise_clip, stat, fn):
    row = F.extract_features(noise_clip, stats=(stat,))
    assert list(row) == [c.replace("mean_", f"{stat}_", 1) for c in SEED_COLUMNS]
    frames = F.compute_frame_features(noise_clip)
    assert row[f"{stat}_spec_cent"] == pytest.approx(float(fn(frames["spec_cent"])), rel=1e-9)
    assert row[f"{stat}_chroma_stftA"] == pytest.approx(float(fn(frames["chroma_stft"][9])))


@pytest.mark.parametrize("stats", [("mean", "variance"), ("avg",), (), ""])
def test_unknown_statistic_raises(noise_clip, stats):
    with pytest.raises(FeatureError, match="statistic"):
        F.extract_features(noise_clip, stats=stats)


def test_n_mfcc_20(noise_clip):
    row = F.extract_features(noise_clip, n_mfcc=20)
    assert list(row) == SEED_COLUMNS + [f"mean_mfcc{j}" for j in range(14, 21)]
    row13 = F.extract_features(noise_clip)
    for j in range(1, 14):  # the first 13 coefficients do not depend on how many are kept
        assert row[f"mean_mfcc{j}"] == pytest.approx(row13[f"mean_mfcc{j}"], rel=1e-6)
    assert F.feature_names(n_mfcc=20) == list(row)
    with pytest.raises(FeatureError):
        F.extract_features(noise_clip, n_mfcc=0)


def test_extended_feature_set(noise_clip):
    row = F.extract_features(noise_clip, feature_set="extended")
    assert list(row) == SEED_COLUMNS + EXTENDED_EXTRA
    assert all(np.isfinite(v) for v in row.values())
    seed = F.extract_features(noise_clip)
    assert {k: row[k] for k in SEED_COLUMNS} == seed
    # White noise is flat: spectral flatness far above that of a tone.
    tone_row = F.extract_features(tone(440.0, 3.0), feature_set="extended")
    assert row["mean_spectral_flatness"] > 10 * tone_row["mean_spectral_flatness"]
    assert 0 < row["tempo"] < 400
    with_std = F.extract_features(noise_clip, feature_set="extended", stats=("mean", "std"))
    assert list(with_std).count("tempo") == 1  # a scalar is kept once, unpooled
    assert F.feature_names(feature_set="extended", stats=("mean", "std")) == list(with_std)


def test_unknown_feature_set_raises(noise_clip):
    with pytest.raises(FeatureError, match="feature_set"):
        F.extract_features(noise_clip, feature_set="everything")


# ---------------------------------------------------------------------------------------------
# Known answers on synthetic signals


def test_tone_centroid_is_its_frequency():
    centroid = interior(F.spectral_centroid(y=tone(1000.0)))
    assert np.all(np.abs(centroid - 1000.0) < BIN_HZ)
    # The row's mean includes the edge frames, which are still dominated by the tone.
    assert abs(F.extract_features(tone(1000.0))["mean_spec_cent"] - 1000.0) < BIN_HZ


def test_centroid_of_all_energy_in_one_bin():
    S = np.zeros((1 + FRAME_SIZE // 2, 3), np.float32)
    S[100, :] = [1.0, 5.0, 0.1]
    freq = librosa.fft_frequencies(sr=SR, n_fft=FRAME_SIZE)
    np.testing.assert_allclose(F.spectral_centroid(S=S), freq[100], rtol=1e-12)
    np.testing.assert_allclose(F.spectral_bandwidth(S=S), 0.0, atol=1e-6)
    np.testing.assert_allclose(F.spectral_rolloff(S=S), freq[100])


@pytest.mark.parametrize("freq, pitch", [(440.0, "A"), (523.25, "C"), (392.0, "G")])
def test_tone_chroma_peaks_at_its_pitch_class(freq, pitch):
    c = interior(F.chroma(y=tone(freq)))
    assert np.all(np.argmax(c, axis=0) == PITCHES.index(pitch))
    np.testing.assert_allclose(c.max(axis=0), 1.0, rtol=1e-6)  # each frame peaks at 1
    row = F.extract_features(tone(freq))
    chroma_cols = [f"mean_chroma_stft{p}" for p in PITCHES]
    assert max(chroma_cols, key=row.get) == f"mean_chroma_stft{pitch}"


def test_white_noise_zcr_is_one_half(rng):
    y = rng.standard_normal(SR * 2).astype(np.float32)
    zcr = F.zero_crossing_rate(y)
    assert abs(interior(zcr).mean() - 0.5) < 0.01
    assert abs(F.extract_features(y)["mean_zcr"] - 0.5) < 0.01


def test_zcr_of_a_square_wave():
    # Sign flips every 8 samples: 2047 pairs in a frame hold 255 or 256 flips; rate ~ 1/8.
    y = np.where((np.arange(SR) // 8) % 2 == 0, 0.5, -0.5).astype(np.float32)
    zcr = interior(F.zero_crossing_rate(y))
    assert np.all(np.abs(zcr - 1 / 8) <= 1 / FRAME_SIZE)


def test_silence_gives_documented_finite_values():
    y = np.zeros(SR, np.float32)
    frames = F.compute_frame_features(y)
    for name in (*SERIES, "chroma_stft"):
        np.testing.assert_array_equal(frames[name], 0.0, err_msg=name)
    # MFCCs are those of the -100 dB floor: DCT-II (ortho) of a constant over 128 bands.
    np.testing.assert_allclose(frames["mfcc"][0], -100.0 * np.sqrt(128), rtol=1e-5)
    np.testing.assert_allclose(frames["mfcc"][1:], 0.0, atol=1e-3)
    for feature_set in F.FEATURE_SETS:
        row = F.extract_features(y, feature_set=feature_set, stats=tuple(F.STATS))
        assert all(np.isfinite(v) for v in row.values()), feature_set
        for stat in F.STATS:
            for name in SERIES:
                assert row[f"{stat}_{name}"] == 0.0


@pytest.mark.parametrize("n", [1, 100, 2048, 4000])
@pytest.mark.parametrize("feature_set", ["seed", "extended"])
def test_short_signals_give_finite_rows(rng, n, feature_set):
    y = (rng.standard_normal(n) * 0.1).astype(np.float32)
    row = F.extract_features(y, feature_set=feature_set, stats=("mean", "std"))
    assert list(row) == F.feature_names(feature_set=feature_set, stats=("mean", "std"))
    assert all(np.isfinite(v) for v in row.values())
    assert len(F.compute_frame_features(y)["rms"]) == 1 + n // HOP_LENGTH


def test_y_and_S_paths_agree(rng):
    y = (tone(660.0) + 0.05 * rng.standard_normal(SR * 2)).astype(np.float32)
    mag = F.compute_spectrogram(y)
    power = F.compute_spectrogram(y, power=2.0)
    np.testing.assert_allclose(power, mag**2, rtol=1e-6)
    for fn in (F.band_energy_ratio, F.spectral_centroid, F.spectral_bandwidth,
               F.spectral_rolloff):
        np.testing.assert_allclose(fn(S=mag), fn(y=y), rtol=1e-6, err_msg=fn.__name__)
    np.testing.assert_allclose(F.chroma(S=power), F.chroma(y=y), rtol=1e-6)
    np.testing.assert_allclose(F.chroma(S=power, tuning=None), F.chroma(y=y, tuning=None),
                               rtol=1e-6)
    log_mel = F.log_mel_spectrogram(S=power)
    np.testing.assert_allclose(log_mel, F.log_mel_spectrogram(y=y), rtol=1e-6)
    np.testing.assert_allclose(F.mfcc(S=log_mel), F.mfcc(y=y), rtol=1e-6, atol=1e-4)
    # RMS from S is that of the windowed frames (Parseval), as in librosa: lower than from y
    # by the Hann window's RMS, sqrt(3/8), on a stationary signal.
    ratio = interior(F.rms(S=mag)) / interior(F.rms(y=y))
    np.testing.assert_allclose(ratio, np.sqrt(3 / 8), rtol=0.02)
    np.testing.assert_allclose(F.rms(S=mag), librosa.feature.rms(S=mag)[0], rtol=1e-5)
    # The shared STFT of compute_frame_features gives the same as each function on y.
    frames = F.compute_frame_features(y)
    np.testing.assert_allclose(frames["ber"], F.band_energy_ratio(y=y), rtol=1e-6)
    np.testing.assert_allclose(frames["rms"], F.rms(y=y), rtol=1e-5)


def test_band_energy_ratio_of_low_and_high_tones():
    assert interior(F.band_energy_ratio(y=tone(500.0))).min() > 1e3
    assert interior(F.band_energy_ratio(y=tone(8000.0))).max() < 1e-3
    # The split moves the boundary: a 3 kHz tone is "high" at 2 kHz and "low" at 4 kHz.
    y = tone(3000.0)
    assert interior(F.band_energy_ratio(y=y)).max() < 1e-3
    assert interior(F.band_energy_ratio(y=y, split_frequency=4000.0)).min() > 1e3
    with pytest.raises(FeatureError):
        F.band_energy_ratio(y=y, split_frequency=SR)


def test_band_energy_ratio_edge_frames():
    S = np.zeros((1 + FRAME_SIZE // 2, 4), np.float32)
    S[10, 0] = 1e-6  # total power 1e-12, below the 1e-10 floor: counts as silent
    S[10, 1] = 1.0  # all power below the split, none above: finite thanks to the floor
    S[10, 2], S[500, 2] = 2.0, 1.0  # power 4 below, 1 above
    ber = F.band_energy_ratio(S=S)
    np.testing.assert_allclose(ber, [0.0, 1e10, 4.0, 0.0])


def test_amplitude_envelope_of_known_signals():
    n = 10 * HOP_LENGTH
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    env = F.amplitude_envelope(ramp)
    k = np.arange(1 + n // HOP_LENGTH)
    last = np.minimum(k * HOP_LENGTH + FRAME_SIZE // 2 - 1, n - 1)  # last sample of frame k
    np.testing.assert_array_equal(env, ramp[last])
    # The maximum of s(i), not of |s(i)|: a negative constant gives its value inside, and 0
    # where the centred frame reaches into the zero padding.
    env = F.amplitude_envelope(np.full(n, -0.5, np.float32))
    assert env[0] == 0.0 and env[-1] == 0.0
    np.testing.assert_array_equal(interior(env, 2), -0.5)


def test_rolloff_of_a_tone_is_near_its_frequency():
    ro = interior(F.spectral_rolloff(y=tone(3000.0)))
    assert np.all(np.abs(ro - 3000.0) <= 2 * BIN_HZ)
    ro = interior(F.spectral_rolloff(y=tone(3000.0), roll_percent=0.5))
    assert np.all(np.abs(ro - 3000.0) <= BIN_HZ)


def test_rolloff_of_a_flat_spectrum():
    S = np.zeros((1 + FRAME_SIZE // 2, 2), np.float32)
    S[:100] = 1.0  # cumulative sum reaches 85 of 100 at bin 84
    freq = librosa.fft_frequencies(sr=SR, n_fft=FRAME_SIZE)
    np.testing.assert_array_equal(F.spectral_rolloff(S=S), freq[84])


def test_rolloff_at_the_last_bin_of_a_search_block(rng):
    """Regression: when the threshold is reached at the last bin of a 32-bin block, rounding
    could put the running sum an ulp short and return the block's first bin."""
    n_frames = 400
    S = np.zeros((1 + FRAME_SIZE // 2, n_frames), np.float32)
    S[:32] = rng.random((32, n_frames)).astype(np.float32) * rng.uniform(0.1, 1.0, n_frames)
    total = S[:32].sum(axis=0)
    S[32:40] = (total / 0.85 - total) / 8  # 85 % of the total is reached near bin 31
    got = F.spectral_rolloff(S=S)
    csum = np.cumsum(S.astype(np.float64), axis=0)
    want = librosa.fft_frequencies(sr=SR, n_fft=FRAME_SIZE)[
        np.argmax(csum >= 0.85 * csum[-1], axis=0)]
    assert np.all(np.abs(got - want) <= BIN_HZ * 1.001)


@pytest.mark.parametrize("bad", [
    np.array([0.1, np.nan, 0.2], np.float32),
    np.array([0.1, np.inf, 0.2], np.float32),
    np.array([-np.inf], np.float64),
    np.array([], np.float32),
    np.zeros((2, 4096), np.float32),
    np.zeros((1, 4096), np.float32),
    np.zeros(4096, np.int16),
], ids=["nan", "inf", "-inf", "empty", "stereo", "2d-row", "int"])
def test_bad_signals_raise(bad):
    with pytest.raises(FeatureError):
        F.extract_features(bad)
    with pytest.raises(FeatureError):
        F.compute_frame_features(bad)
    for fn in (F.compute_spectrogram, F.amplitude_envelope, F.zero_crossing_rate):
        with pytest.raises(FeatureError):
            fn(bad)
    for fn in (F.rms, F.band_energy_ratio, F.spectral_centroid, F.spectral_bandwidth,
               F.spectral_rolloff, F.chroma, F.mfcc, F.log_mel_spectrogram):
        with pytest.raises(FeatureError):
            fn(y=bad)


S_FUNCTIONS = [F.rms, F.band_energy_ratio, F.spectral_centroid, F.spectral_bandwidth,
               F.spectral_rolloff, F.chroma, F.log_mel_spectrogram]


@pytest.mark.parametrize("fn", S_FUNCTIONS, ids=lambda f: f.__name__)
def test_bad_spectrograms_raise(fn):
    S = np.ones((1 + FRAME_SIZE // 2, 5), np.float32)
    fn(S=S)  # a valid one passes
    negative = S.copy()
    negative[3, 2] = -1.0
    with pytest.raises(FeatureError, match="negative"):
        fn(S=negative)
    with pytest.raises(FeatureError):
        fn(S=np.ones((100, 5), np.float32))  # not 1 + n_fft // 2 bins
    with pytest.raises(FeatureError):
        fn(S=np.full_like(S, np.nan))
    with pytest.raises(FeatureError):
        fn(S=librosa.stft(np.ones(4096, np.float32)))  # complex, not magnitude
    with pytest.raises(FeatureError, match="either y="):
        fn()


def test_mfcc_bad_input_raises():
    with pytest.raises(FeatureError):
        F.mfcc(S=np.full((128, 5), np.nan))
    with pytest.raises(FeatureError):
        F.mfcc(S=np.zeros((10, 5)), n_mfcc=13)  # more coefficients than mel bands
    with pytest.raises(FeatureError):
        F.mfcc()


# ---------------------------------------------------------------------------------------------
# Bad parameters: a FeatureError naming the parameter, never ZeroDivisionError or librosa's


BAD_PARAMS = [
    ("sr", 0), ("sr", -1), ("sr", 22050.5), ("sr", float("nan")), ("sr", float("inf")),
    ("sr", "22050"), ("sr", True),
    ("hop_length", 0), ("hop_length", -512), ("hop_length", 2.5), ("hop_length", None),
    ("n_fft", 0), ("n_fft", -2048), ("n_fft", 1), ("n_fft", 2048.5),
    ("tuning", float("nan")), ("tuning", float("inf")), ("tuning", -float("inf")),
    ("tuning", 0.7), ("tuning", "A440"),
]
# Every public function that takes the parameter (frame_length is n_fft's time-domain name).
_Y = (np.random.default_rng(3).standard_normal(SR) * 0.1).astype(np.float32)
TAKES = {
    "sr": [F.band_energy_ratio, F.spectral_centroid, F.spectral_bandwidth, F.spectral_rolloff,
           F.chroma, F.log_mel_spectrogram, F.mfcc],
    "hop_length": [F.compute_spectrogram, F.amplitude_envelope, F.rms, F.zero_crossing_rate,
                   F.band_energy_ratio, F.spectral_centroid, F.spectral_bandwidth,
                   F.spectral_rolloff, F.chroma, F.log_mel_spectrogram, F.mfcc],
    "n_fft": [F.compute_spectrogram, F.band_energy_ratio, F.spectral_centroid,
              F.spectral_bandwidth, F.spectral_rolloff, F.chroma, F.log_mel_spectrogram,
              F.mfcc],
    "frame_length": [F.amplitude_envelope, F.rms, F.zero_crossing_rate],
    "tuning": [F.chroma],
}
_POSITIONAL_Y = {F.compute_spectrogram, F.amplitude_envelope, F.zero_crossing_rate}


def _call(fn, **kwargs):
    return fn(_Y, **kwargs) if fn in _POSITIONAL_Y else fn(y=_Y, **kwargs)


@pytest.mark.parametrize("name, value", BAD_PARAMS, ids=lambda v: repr(v))
def test_bad_parameters_raise_feature_error(name, value):
    for feature_set in F.FEATURE_SETS:
        with pytest.raises(FeatureError, match=name):
            F.extract_features(_Y, feature_set=feature_set, **{name: value})
        with pytest.raises(FeatureError, match=name):
            F.compute_frame_features(_Y, feature_set=feature_set, **{name: value})
    names = [name] + (["frame_length"] if name == "n_fft" else [])
    for param in names:
        for fn in TAKES[param]:
            with pytest.raises(FeatureError, match=param):
                _call(fn, **{param: value})


def test_bad_parameters_are_checked_before_any_work(monkeypatch):
    """One up-front check: a bad hop_length is refused before the STFT is even attempted."""
    def boom(*args, **kwargs):
        raise AssertionError("framing started before the parameters were checked")

    monkeypatch.setattr(features_frames, "_frame", boom)  # where it is looked up
    with pytest.raises(FeatureError, match="hop_length"):
        F.extract_features(_Y, hop_length=0)
    with pytest.raises(FeatureError, match="tuning"):
        F.extract_features(_Y, tuning=float("nan"))


def test_whole_valued_parameters_of_other_types_are_accepted():
    want = F.extract_features(_Y)
    assert F.extract_features(_Y, sr=22050.0, n_fft=2048.0, hop_length=np.int64(512),
                              n_mfcc=np.int32(13), tuning=np.float32(0.0)) == want
    assert F.feature_settings(sr=np.int64(22050))["sr"] == 22050
    assert type(F.feature_settings(sr=22050.0)["sr"]) is int  # JSON writes 22050, not 22050.0


@pytest.mark.filterwarnings("ignore:Empty filters detected")  # 128 mel bands, 65 FFT bins
@pytest.mark.parametrize("feature_set, kwargs, match", [
    ("seed", {"sr": 4000}, "2,000 Hz"),  # the band-energy split must lie below sr / 2
    ("extended", {"sr": 8000}, "spectral contrast"),
    ("extended", {"n_fft": 64}, "n_fft"),  # octave bands without an FFT bin
])
def test_parameters_too_small_for_the_feature_set(feature_set, kwargs, match):
    with pytest.raises(FeatureError, match=match):
        F.extract_features(_Y, feature_set=feature_set, **kwargs)
    # Just inside the limits, every value is finite.
    ok = {"sr": 4001} if kwargs == {"sr": 4000} else \
        {"sr": 12801} if "sr" in kwargs else {"n_fft": 128, "hop_length": 128}
    row = F.extract_features(_Y, feature_set=feature_set, **ok)
    assert all(np.isfinite(v) for v in row.values())


def test_bad_settings_for_a_table_raise():
    for kwargs in ({"sr": 0}, {"n_mfcc": 0}, {"n_mfcc": 129}, {"n_mfcc": 2.5},
                   {"feature_set": "all"}, {"stats": ("avg",)}):
        with pytest.raises(FeatureError):
            F.feature_settings(**kwargs)


# ---------------------------------------------------------------------------------------------
# Corpus tables


def _feature_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in ("audio_file", *LEVELS)]


def test_feature_tables_of_a_prepared_corpus(demo_dir):
    splits = list_splits(demo_dir)
    assert splits
    for split in splits:
        ann = read_annotations(demo_dir / split)
        table = pd.read_csv(demo_dir / split / "features.csv")
        assert list(table.columns) == ["audio_file", *LEVELS, *SEED_COLUMNS]
        assert list(table["audio_file"]) == list(ann["audio_file"])
        assert not table.isna().any().any()
        settings = json.loads((demo_dir / split / "features.json").read_text())
        assert settings == {
            "format_version": F.FEATURES_FORMAT_VERSION, **F.feature_settings(),
            "label_columns": ["fst_level_label", "sec_level_label", "thr_level_label"],
            "feature_columns": SEED_COLUMNS, "n_rows": len(ann), "n_clips": len(ann),
            "annotations_sha256": sha256(demo_dir / split / "annotations.csv"),
            "features_sha256": sha256(demo_dir / split / "features.csv"),
            "clip_stamps": {f: [(demo_dir / f).stat().st_size, (demo_dir / f).stat().st_mtime_ns]
                            for f in ann["audio_file"]}}
        assert settings["segment"] is None and settings["segment_hop"] is None
        assert F.read_feature_settings(demo_dir / split) == settings
        assert F.check_feature_table(demo_dir / split) == settings
    # A row equals extract_features of its clip (the table went through CSV and processes).
    row = pd.read_csv(demo_dir / splits[0] / "features.csv").iloc[0]
    want = F.extract_features(load_audio(demo_dir / row["audio_file"]))
    np.testing.assert_allclose(row[SEED_COLUMNS].to_numpy(float), list(want.values()),
                               rtol=1e-6)  # float32 BLAS rounding differs by thread count


@pytest.fixture
def split_with_bad_clips(demo_dir, tmp_path):
    """A copy of a prepared split whose annotations also list a missing and a corrupt WAV."""
    split = list_splits(demo_dir)[0]
    data = tmp_path / "data"
    shutil.copytree(demo_dir / split, data / split)
    for f in ("features.csv", "features.json"):
        (data / split / f).unlink()
    ann = read_annotations(data / split)
    good = ann.iloc[:3].copy()
    bad = ann.iloc[:2].copy()
    bad["audio_file"] = [f"{split}/audios/missing.wav", f"{split}/audios/corrupt.wav"]
    (data / split / "audios" / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio")
    pd.concat([good.iloc[:1], bad.iloc[:1], good.iloc[1:], bad.iloc[1:]]).to_csv(
        data / split / "annotations.csv", index=False)
    return data / split, list(good["audio_file"]), list(bad["audio_file"])


def test_missing_and_corrupt_clips_are_reported_and_left_out(split_with_bad_clips):
    split_dir, good, bad = split_with_bad_clips
    messages = []
    table = F.build_feature_table(split_dir, n_jobs=1, progress=False, log=messages.append)
    assert list(table["audio_file"]) == good
    written = pd.read_csv(split_dir / "features.csv")
    assert list(written["audio_file"]) == good
    assert not written.isna().any().any()
    assert len(messages) == 2
    for name, msg in zip(bad, messages, strict=True):
        assert name in msg
    assert "no such file" in messages[0]
    skipped = pd.read_csv(split_dir / "features_skipped.csv")
    assert list(skipped["audio_file"]) == bad
    # Once the annotations are fixed, a new run leaves no stale list of skipped clips.
    ann = read_annotations(split_dir)
    ann[ann["audio_file"].isin(good)].to_csv(split_dir / "annotations.csv", index=False)
    F.build_feature_table(split_dir, n_jobs=1, progress=False, log=messages.append)
    assert len(messages) == 2
    assert len(pd.read_csv(split_dir / "features_skipped.csv")) == 0


def test_build_feature_tables_and_cli_do_every_split(demo_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_dir, data)
    splits = list_splits(data)
    for split in splits:
        (data / split / "features.csv").unlink()
    assert cli_main(["features", str(data), "--stats", "mean,std", "--quiet",
                     "--n-jobs", "1"]) == 0
    std_cols = [c.replace("mean_", "std_", 1) for c in SEED_COLUMNS]
    for split in splits:
        table = pd.read_csv(data / split / "features.csv")
        assert _feature_columns(table) == SEED_COLUMNS + std_cols
        assert not table.isna().any().any()
        assert F.read_feature_settings(data / split)["stats"] == ["mean", "std"]
        # In-process (n_jobs=1) and the fixture's worker processes (n_jobs=2) agree.
        before = pd.read_csv(demo_dir / split / "features.csv")
        pd.testing.assert_frame_equal(table[before.columns], before, rtol=1e-6)
    tables = F.build_feature_tables(data, n_mfcc=5, n_jobs=1, progress=False,
                                    log=lambda m: None)
    assert list(tables) == splits
    for split, table in tables.items():
        assert len(table) == len(read_annotations(data / split))
        assert _feature_columns(table)[-1] == "mean_mfcc5"


def test_build_feature_tables_without_splits_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="prepare"):
        F.build_feature_tables(tmp_path)
    assert cli_main(["features", str(tmp_path), "--quiet"]) != 0


def test_build_feature_table_refuses_unknown_settings(demo_dir):
    split_dir = demo_dir / list_splits(demo_dir)[0]
    with pytest.raises(FeatureError):
        F.build_feature_table(split_dir, feature_set="everything", progress=False)
    with pytest.raises(FeatureError):
        F.build_feature_table(split_dir, stats=("avg",), progress=False)


# ---------------------------------------------------------------------------------------------
# Provenance: tables tied to their annotations, refused when stale


def _link_or_copy(src, dst):
    """A hard link (no copy of the audio, and no symbolic link, which annotations refuse)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@pytest.fixture
def data_copy(demo_dir, tmp_path):
    """The demo folder's tables and annotations copied, its WAVs hard-linked (read only)."""
    data = tmp_path / "data"
    for split in list_splits(demo_dir):
        (data / split).mkdir(parents=True)
        for f in (demo_dir / split).iterdir():
            if f.name == "audios":
                shutil.copytree(f, data / split / "audios", copy_function=_link_or_copy)
            elif f.is_file():
                shutil.copy2(f, data / split / f.name)
    return data


def _tables(data) -> dict:
    return {p.relative_to(data).as_posix(): p.read_bytes()
            for p in sorted(data.glob("*/features*"))}


def test_check_feature_tables_of_a_fresh_build(data_copy):
    metas = F.check_feature_tables(data_copy)
    assert list(metas) == list_splits(data_copy)
    for split, meta in metas.items():
        table = pd.read_csv(data_copy / split / "features.csv")
        assert meta["n_rows"] == len(table) and meta["n_clips"] == len(table)
        assert meta["feature_columns"] == SEED_COLUMNS
    assert list(F.check_feature_tables(data_copy, splits=["train"])) == ["train"]


def _stale(path, match):
    return pytest.raises(F.StaleFeaturesError, match=match)


def test_missing_or_unreadable_features_json_is_stale(data_copy):
    split = data_copy / "train"
    (split / "features.json").write_text("{not json")
    with _stale(split, r"'train'.*unreadable.*re-run `bag-of-songs features"):
        F.check_feature_table(split)
    (split / "features.json").unlink()
    with _stale(split, r"'train'.*no features.json.*re-run `bag-of-songs features "
                       + str(data_copy)):
        F.check_feature_table(split)
    # A table of the previous version: its features.json had the settings only.
    old = {**F.feature_settings(), "label_columns": list(LEVELS)}
    (split / "features.json").write_text(json.dumps(old))
    with _stale(split, "another version"):
        F.check_feature_table(split)
    with _stale(split, "'train'"):
        F.check_feature_tables(data_copy)
    (split / "features.csv").unlink()
    with pytest.raises(FileNotFoundError, match="bag-of-songs features"):
        F.check_feature_table(split)


def test_annotations_changed_since_the_build_is_stale(data_copy):
    """Item 5 of issue 11: `prepare` again (another seed) leaves the old features.csv."""
    split = data_copy / "validation"
    ann = read_annotations(split)
    ann.iloc[::-1].to_csv(split / "annotations.csv", index=False)  # another order of clips
    with _stale(split, r"'validation' .*stale.*annotations.csv changed"):
        F.check_feature_table(split)
    with _stale(split, "validation"):
        F.check_feature_tables(data_copy)
    (split / "annotations.csv").unlink()
    with _stale(split, "no annotations.csv"):
        F.check_feature_table(split)


def test_features_csv_with_other_columns_or_content_is_stale(data_copy):
    split = data_copy / "train"
    table = pd.read_csv(split / "features.csv")
    table.drop(columns=["mean_mfcc13"]).to_csv(split / "features.csv", index=False)
    with _stale(split, r"columns.*missing \['mean_mfcc13'\]"):
        F.check_feature_table(split)
    table.assign(std_rms=1.0).to_csv(split / "features.csv", index=False)
    with _stale(split, r"unexpected \['std_rms'\]"):
        F.check_feature_table(split)
    table.assign(mean_rms=table["mean_rms"] * 2).to_csv(split / "features.csv", index=False)
    with _stale(split, "changed or replaced after its features.json"):
        F.check_feature_table(split)


def test_splits_built_with_different_settings_are_refused(data_copy):
    """Item 8 of issue 11: `features --stats mean,std` killed after its first split."""
    F.build_feature_table(data_copy / "train", stats=("mean", "std"), n_jobs=1,
                          progress=False, log=lambda m: None)
    F.check_feature_table(data_copy / "train")  # each table is fine on its own
    F.check_feature_table(data_copy / "test")
    with pytest.raises(F.StaleFeaturesError) as err:
        F.check_feature_tables(data_copy)
    msg = str(err.value)
    assert "stats" in msg and "'validation'" in msg and "'train'" in msg
    assert "feature columns differ" in msg and f"features {data_copy}" in msg
    F.check_feature_tables(data_copy, splits=["validation", "test"])  # these two agree
    F.build_feature_table(data_copy / "test", n_mfcc=12, n_jobs=1, progress=False,
                          log=lambda m: None)
    with pytest.raises(F.StaleFeaturesError, match=r"n_mfcc is 12 in 'test' but 13"):
        F.check_feature_tables(data_copy, splits=["validation", "test"])


def test_interrupted_build_leaves_the_previous_tables(data_copy, monkeypatch):
    before = _tables(data_copy)
    real_stage = F._stage_split
    calls = []

    def stage_then_interrupt(split_dir, *args, **kwargs):
        calls.append(split_dir.name)
        if len(calls) == 2:  # Ctrl-C while the second split is being extracted
            raise KeyboardInterrupt
        return real_stage(split_dir, *args, **kwargs)

    monkeypatch.setattr(features_tables, "_stage_split", stage_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        F.build_feature_tables(data_copy, stats=("mean", "std"), n_jobs=1, progress=False)
    assert _tables(data_copy) == before  # nothing published, the first split's staging gone
    # What remains is the first split's side file, which a re-run resumes from.
    assert [p.relative_to(data_copy).parent.as_posix()
            for p in data_copy.glob("*/.features*")] == [calls[0]]
    assert list(data_copy.glob(f"{calls[0]}/.features.partial.*.jsonl"))
    F.check_feature_tables(data_copy)


def test_half_published_split_is_refused(data_copy, tmp_path):
    """A new features.csv beside the previous features.json (killed between the renames)."""
    other = tmp_path / "other"
    shutil.copytree(data_copy, other, copy_function=_link_or_copy)
    F.build_feature_table(other / "train", stats=("mean", "median"), n_jobs=1,
                          progress=False, log=lambda m: None)
    shutil.copy2(other / "train" / "features.csv", data_copy / "train" / "features.csv")
    with pytest.raises(F.StaleFeaturesError, match="'train'"):
        F.check_feature_table(data_copy / "train")
    # Same columns, other values (a rebuild after the annotations changed, renamed half-way).
    F.build_feature_table(other / "test", n_jobs=1, progress=False, log=lambda m: None)
    table = pd.read_csv(other / "test" / "features.csv")
    table.iloc[::-1].to_csv(data_copy / "test" / "features.csv", index=False)
    with pytest.raises(F.StaleFeaturesError, match="changed or replaced"):
        F.check_feature_table(data_copy / "test")


def test_debris_of_an_earlier_run_is_removed(data_copy):
    split = data_copy / "test"
    debris = [split / ".features.csv.staged", split / ".features.json.x1y2.tmp",
              split / ".features_skipped.csv.abc.csv.tmp"]
    for p in debris:
        p.write_text("left by a killed run")
    keep = split / ".user_notes.txt"
    keep.write_text("not ours")
    F.build_feature_tables(data_copy, n_jobs=1, progress=False, log=lambda m: None)
    assert not any(p.exists() for p in debris)
    assert keep.exists()
    F.check_feature_tables(data_copy)


def test_annotations_rewritten_during_extraction_writes_nothing(data_copy, monkeypatch):
    split = data_copy / "train"
    before = _tables(data_copy)
    real = F._features_for_file

    def rewrite_then_extract(path, settings):
        if not (split / "rewritten").exists():  # a concurrent prepare, once
            (split / "rewritten").touch()
            ann = read_annotations(split)
            ann.iloc[::-1].to_csv(split / "annotations.csv", index=False)
        return real(path, settings)

    monkeypatch.setattr(features_compute, "_features_for_file", rewrite_then_extract)
    with pytest.raises(F.StaleFeaturesError, match="changed while"):
        F.build_feature_table(split, n_jobs=1, progress=False, log=lambda m: None)
    assert _tables(data_copy) == before
    assert not list(split.glob(".features*"))


def test_a_folder_in_use_by_another_run_is_refused(data_copy):
    import subprocess
    import sys

    before = _tables(data_copy)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom bag_of_songs.data import lock_folder\n"
         "with lock_folder(sys.argv[1], what='prepare'):\n"
         "    print('locked', flush=True)\n    time.sleep(60)\n", str(data_copy)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OSError, match="in use by another run"):
            F.build_feature_tables(data_copy, n_jobs=1, progress=False, log=lambda m: None)
        with pytest.raises(OSError, match="in use by another run"):
            F.build_feature_table(data_copy / "train", n_jobs=1, progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert _tables(data_copy) == before
    F.build_feature_tables(data_copy, n_jobs=1, progress=False, log=lambda m: None)


# ---------------------------------------------------------------------------------------------
# A Dask cluster gives the same tables as a local run


@pytest.mark.slow  # starts a two-worker LocalCluster (about 15-20 s on 2 busy cores)
def test_tables_on_a_dask_cluster_equal_a_local_run(data_copy, monkeypatch):
    distributed = pytest.importorskip(
        "distributed", reason="the Dask scheduler client is an optional extra "
                              "(pip install \"bag-of-songs[dask]\")")
    from bag_of_songs.parallel import SCHEDULER_ENV

    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    ann = read_annotations(data_copy / "test")
    bad = ann.iloc[:1].assign(audio_file="test/audios/missing.wav")
    pd.concat([ann, bad]).to_csv(data_copy / "test" / "annotations.csv", index=False)
    quiet = {"progress": False, "log": lambda m: None}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        for settings, how in [({"stats": ("mean", "std")}, "argument"),
                              ({"segment": 3.0}, "environment")]:
            F.build_feature_tables(data_copy, n_jobs=2, **settings, **quiet)
            local = _tables(data_copy)
            if how == "argument":
                F.build_feature_tables(data_copy, scheduler=cluster.scheduler_address,
                                       **settings, **quiet)
            else:  # the scheduler from the environment, as the notebooks take it
                monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
                F.build_feature_tables(data_copy, **settings, **quiet)
                monkeypatch.delenv(SCHEDULER_ENV)
            dask = _tables(data_copy)
            assert set(dask) == set(local) and "test/features_skipped.csv" in dask
            for name, content in local.items():
                assert dask[name] == content, name  # byte for byte
            assert F.check_feature_tables(data_copy)["train"]["segment"] == settings.get(
                "segment")


# ---------------------------------------------------------------------------------------------
# Ranking


def test_rank_features_two_classes(rng):
    n = 40
    label = np.repeat(["Classic", "Non_classic"], n // 2)
    is_b = label == "Non_classic"
    table = pd.DataFrame({
        "audio_file": [f"c{i}.wav" for i in range(n)],
        "fst_level_label": label,
        "up": rng.normal(size=n) + 3.0 * is_b,  # higher in Non_classic
        "down": rng.normal(size=n) - 1.0 * is_b,  # higher in Classic
        "flat": np.ones(n),
        "step": is_b * 2.0,  # no spread within a class: higher in Non_classic all the same
    })
    ranking = F.rank_features(table, label_column="fst_level_label")
    assert set(ranking["feature"]) == {"up", "down", "flat", "step"}
    assert list(ranking["feature"][:2]) == ["up", "down"]
    assert (ranking["measure"] == "|Cohen's d|").all()
    assert ranking["effect"].is_monotonic_decreasing
    by = ranking.set_index("feature")
    assert by.loc["up", "higher_in"] == "Non_classic"
    assert by.loc["down", "higher_in"] == "Classic"
    assert by.loc["step", "higher_in"] == "Non_classic"
    assert by.loc["flat", "effect"] == 0.0
    a, b = table["up"][~is_b], table["up"][is_b]
    pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)  # equal group sizes
    assert by.loc["up", "effect"] == pytest.approx((b.mean() - a.mean()) / pooled)


def test_rank_features_multiclass(rng):
    n = 60
    label = np.repeat([0, 1, 2], n // 3)  # numeric labels: never ranked as a feature
    table = pd.DataFrame({
        "genre": label,
        "sep": label * 10.0 + rng.normal(scale=0.1, size=n),
        "noise": rng.normal(size=n),
        "const": np.full(n, 3.0),
    })
    ranking = F.rank_features(table, label_column="genre")
    assert list(ranking["feature"]) == ["sep", "noise", "const"]
    assert (ranking["measure"] == "eta squared").all()
    assert ranking["effect"].between(0.0, 1.0).all()
    by = ranking.set_index("feature")["effect"]
    assert by["sep"] > 0.99 and by["noise"] < 0.3 and by["const"] == 0.0
    x = table["noise"].to_numpy()
    groups = [x[label == k] for k in range(3)]
    between = sum(len(g) * (g.mean() - x.mean()) ** 2 for g in groups)
    assert by["noise"] == pytest.approx(between / ((x - x.mean()) ** 2).sum())


def test_rank_features_errors():
    table = pd.DataFrame({"label": ["a", "a"], "x": [1.0, 2.0]})
    with pytest.raises(FeatureError, match="fewer than two"):
        F.rank_features(table, label_column="label")
    with pytest.raises(FeatureError, match="no column"):
        F.rank_features(table, label_column="genre")


def test_rank_features_on_a_real_table(demo_dir):
    table = pd.read_csv(demo_dir / "train" / "features.csv")
    ranking = F.rank_features(table, label_column="fst_level_label")
    assert set(ranking["feature"]) == set(SEED_COLUMNS)
    assert np.isfinite(ranking["effect"]).all()

