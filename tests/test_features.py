"""Tests of ``bag_of_songs.features``.

Parity with librosa's own functions on real clips, known answers on synthetic signals, the
column layout of a feature row, corpus tables (missing and corrupt clips, the CLI) and the
feature ranking. Speed and memory are measured by ``benchmarks/bench_features.py``.
"""

from __future__ import annotations

import json
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
        assert settings == {**F.feature_settings(), "label_columns": [
            "fst_level_label", "sec_level_label", "thr_level_label"]}
        assert F.read_feature_settings(demo_dir / split) == settings
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

