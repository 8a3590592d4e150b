"""Tests of segment features (texture windows) in ``bag_of_songs.features``.

Which frames form each segment, segment rows as the pooled frames of the clip's one STFT, their
known relation to ``extract_features`` of the sliced signal, equal-length segment means against
the whole-clip mean, short clips, silent segments, per-segment tempo, and segment tables.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest

from bag_of_songs import features as F
from bag_of_songs.data import HOP_LENGTH, LEVELS, SAMPLE_RATE, list_splits, load_audio
from bag_of_songs.features import FeatureError

SR = SAMPLE_RATE
H = HOP_LENGTH
N_F = 129  # frames in a 3 s segment: round(3 * 22050 / 512)
STATS = tuple(F.STATS)
# Features that depend on the frame's own samples only (no clip-wide floor, no neighbours).
FRAME_LOCAL = ["envelope", "rms", "zcr", "ber", "spec_cent", "spec_bw", "rolloff",
               "chroma_stft", "spectral_flatness"]


def noise(seconds: float, seed: int = 0, amp: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amp * rng.standard_normal(int(SR * seconds))).astype(np.float32)


def with_frames(n_frames: int, seed: int = 0) -> np.ndarray:
    """A noisy, varying signal with exactly ``n_frames`` frames (1 + n // H)."""
    n = (n_frames - 1) * H
    t = np.arange(n) / SR
    y = noise(n / SR, seed)[:n] * (0.3 + np.abs(np.sin(2 * np.pi * 0.4 * t)))
    return (y + 0.2 * np.sin(2 * np.pi * 440 * t) * (t > 2.0)).astype(np.float32)


def click_track(bpm: float, seconds: float) -> np.ndarray:
    y = np.zeros(int(SR * seconds), np.float32)
    burst = (np.hanning(256) * np.random.default_rng(1).standard_normal(256)).astype(np.float32)
    for start in range(0, len(y) - 256, int(SR * 60 / bpm)):
        y[start:start + 256] += 0.8 * burst
    return y


def sliced(frame_features: dict, a: int, b: int) -> dict:
    return {k: (v[..., a:b] if np.ndim(v) else v) for k, v in frame_features.items()}


# ---------------------------------------------------------------------------------------------
# Which frames belong to a segment


def test_segment_frames_of_a_30_s_clip():
    b = F.segment_frames(1292, segment=3.0)  # 30 s: 1 + 661500 // 512 frames
    assert b.shape == (10, 2)
    np.testing.assert_array_equal(b[:, 0], np.arange(10) * N_F)
    np.testing.assert_array_equal(b[:, 1] - b[:, 0], N_F)
    assert b[-1, 1] == 1290  # the last 2 frames (46 ms) make no whole segment
    # Overlapping: a segment every round(1.5 * 22050 / 512) = 65 frames.
    b = F.segment_frames(1292, segment=3.0, segment_hop=1.5)
    assert len(b) == 1 + (1292 - N_F) // 65 == 18
    np.testing.assert_array_equal(b[:, 0], np.arange(18) * 65)
    # Gaps: segment_hop > segment leaves the frames between segments out.
    b = F.segment_frames(1292, segment=1.0, segment_hop=5.0)
    np.testing.assert_array_equal(b[:2], [[0, 43], [215, 258]])
    # Shorter than one segment: one segment of every frame, never none.
    np.testing.assert_array_equal(F.segment_frames(100, segment=3.0), [[0, 100]])
    np.testing.assert_array_equal(F.segment_frames(1, segment=3.0), [[0, 1]])
    np.testing.assert_array_equal(F.segment_frames(N_F, segment=3.0), [[0, N_F]])


@pytest.mark.parametrize("segment, segment_hop, match", [
    (0.0, None, "segment"), (-3.0, None, "segment"), (float("nan"), None, "segment"),
    (float("inf"), None, "segment"), ("3", None, "segment"), (0.01, None, "one hop"),
    (3.0, 0.0, "segment_hop"), (3.0, -1.0, "segment_hop"), (3.0, 0.001, "one hop"),
    (None, 1.5, "segment_hop needs segment"),
])
def test_bad_segment_settings_raise(segment, segment_hop, match):
    y = noise(1.0)
    with pytest.raises(FeatureError, match=match):
        F.extract_features(y, segment=segment, segment_hop=segment_hop)
    with pytest.raises(FeatureError, match=match):
        F.feature_settings(segment=segment, segment_hop=segment_hop)
    if segment is not None:
        with pytest.raises(FeatureError, match=match):
            F.segment_frames(100, segment=segment, segment_hop=segment_hop)


# ---------------------------------------------------------------------------------------------
# Segment rows: the clip's frames pooled per segment


@pytest.mark.parametrize("feature_set", F.FEATURE_SETS)
def test_segment_rows_pool_the_clips_frames(feature_set):
    y = with_frames(700, seed=2)
    frames = F.compute_frame_features(y, feature_set=feature_set)
    table = F.extract_features(y, feature_set=feature_set, stats=STATS, segment=3.0,
                               segment_hop=2.0)
    bounds = F.segment_frames(700, segment=3.0, segment_hop=2.0)
    assert list(table.columns) == ["segment", *F.feature_names(feature_set=feature_set,
                                                               stats=STATS)]
    assert table["segment"].dtype == np.int64
    assert list(table["segment"]) == list(range(len(bounds))) and len(bounds) == 7
    assert np.isfinite(table.drop(columns="segment").to_numpy()).all()
    for i, (a, b) in enumerate(bounds):
        want = F.pool_features(sliced(frames, a, b), stats=STATS)
        if feature_set == "extended":  # tempo from the segment's slice of the onset envelope
            import librosa

            want["tempo"] = float(librosa.feature.tempo(
                onset_envelope=frames["onset_strength"][a:b], sr=SR, hop_length=H)[0])
        got = table.iloc[i]
        for col, v in want.items():
            assert got[col] == pytest.approx(v, rel=1e-6, abs=1e-9), (i, col)


def test_whole_clip_result_is_unchanged_by_the_option(rng):
    y = noise(4.0)
    row = F.extract_features(y, stats=("mean", "std"))
    assert isinstance(row, dict)
    assert F.extract_features(y, stats=("mean", "std"), segment=None) == row


@pytest.mark.parametrize("feature_set", F.FEATURE_SETS)
def test_mean_of_equal_segment_means_is_the_whole_clip_mean(feature_set):
    """Segments that tile every frame: the mean of their means is the clip's mean, the min of
    their minima its minimum, the max of their maxima its maximum."""
    y = with_frames(4 * N_F, seed=3)
    whole = F.extract_features(y, feature_set=feature_set, stats=("mean", "min", "max"))
    table = F.extract_features(y, feature_set=feature_set, stats=("mean", "min", "max"),
                               segment=3.0)
    assert len(table) == 4
    for col, v in whole.items():
        if col.startswith("mean_"):
            assert table[col].mean() == pytest.approx(v, rel=1e-5, abs=1e-5), col
        elif col.startswith("min_"):
            assert table[col].min() == v, col
        elif col.startswith("max_"):
            assert table[col].max() == v, col
    # With a partial segment left over, the segments cover (and average) only their frames.
    y = with_frames(4 * N_F + 50, seed=3)
    frames = F.compute_frame_features(y)
    table = F.extract_features(y, segment=3.0)
    assert len(table) == 4
    assert table["mean_rms"].mean() == pytest.approx(float(frames["rms"][:4 * N_F].mean()),
                                                     rel=1e-6)
    assert table["mean_rms"].mean() != pytest.approx(float(frames["rms"].mean()), rel=1e-6)


@pytest.mark.parametrize("n", [1, 100, 2048, int(2.9 * SR)])
@pytest.mark.parametrize("feature_set", F.FEATURE_SETS)
def test_a_clip_shorter_than_one_segment_gives_one_row(n, feature_set):
    y = noise(n / SR, seed=4)[:n]
    table = F.extract_features(y, feature_set=feature_set, stats=("mean", "std"), segment=3.0)
    assert len(table) == 1 and table["segment"].tolist() == [0]
    whole = F.extract_features(y, feature_set=feature_set, stats=("mean", "std"))
    for col, v in whole.items():  # one segment of every frame: the whole-clip row
        assert table[col].iloc[0] == pytest.approx(v, rel=1e-6, abs=1e-9), col


@pytest.mark.parametrize("feature_set", F.FEATURE_SETS)
def test_a_silent_segment_gives_finite_documented_values(feature_set):
    y = np.concatenate([noise(3.0), np.zeros(int(3.0 * SR), np.float32), click_track(120, 3.2)])
    table = F.extract_features(y, feature_set=feature_set, stats=STATS, segment=3.0)
    assert len(table) == 3
    assert np.isfinite(table.drop(columns="segment").to_numpy()).all()
    silent = table.iloc[1]
    # Frames 129..257 are centred in 3.0..6.0 s; the two at each end reach into the noise and
    # the clicks, so the silence is checked where every frame is silent: the minima.
    for name in ("envelope", "rms", "zcr", "ber", "spec_cent", "spec_bw", "rolloff"):
        assert silent[f"min_{name}"] == 0.0, name
        assert silent[f"median_{name}"] == 0.0, name
    assert silent["median_chroma_stftA"] == 0.0
    if feature_set == "extended":
        only_silence = F.extract_features(np.zeros(int(6.0 * SR), np.float32),
                                          feature_set=feature_set, segment=3.0)
        assert (only_silence["tempo"] == 0.0).all()  # no onset at all: tempo 0, not the prior
        assert np.isfinite(only_silence.drop(columns="segment").to_numpy()).all()


def test_tempo_is_estimated_per_segment():
    y = np.concatenate([click_track(120, 6.0), click_track(90, 6.1)])
    table = F.extract_features(y, feature_set="extended", segment=3.0)
    assert len(table) == 4
    # librosa's tempo bins at H = 512 are about 3 % apart near 120 BPM.
    np.testing.assert_allclose(table["tempo"][:2], 120.0, rtol=0.05)
    np.testing.assert_allclose(table["tempo"][2:], 90.0, rtol=0.05)


# ---------------------------------------------------------------------------------------------
# Known relation to extract_features of the sliced signal


@pytest.fixture(scope="module", params=["classical", "rock"])
def real_clip(request, emotify_clips):
    path = next(p for p in emotify_clips if p.parent.name == request.param)
    return load_audio(path)


def test_segments_agree_with_the_sliced_signal_inside(real_clip):
    """Segment i (frames a..b-1) against y[a H : (b - 1) H + 1], which has exactly those frame
    centres: frames whose window lies in the slice are identical for frame-local features;
    MFCCs where the floor (80 dB below the maximum) is the same or not reached; pooled means
    differ by at most the 4 edge frames' share of the feature's range."""
    y = real_clip
    frames = F.compute_frame_features(y, feature_set="extended")
    log_mel = F.log_mel_spectrogram(y=y)
    unfloored = (log_mel > log_mel.max() - 80.0).all(axis=0)
    table = F.extract_features(y, segment=3.0)
    bounds = F.segment_frames(len(frames["rms"]), segment=3.0)
    assert len(bounds) == 10 and len(table) == 10
    checked_mfcc = 0
    for i, (a, b) in enumerate(bounds):
        part = y[a * H:(b - 1) * H + 1]
        own = F.compute_frame_features(part, feature_set="extended")
        assert len(own["rms"]) == b - a
        inner = slice(2, b - a - 2)  # n_fft // (2 H) = 2 edge frames at each end
        for name in FRAME_LOCAL:
            # float32 matrix products over 1,025 bins: BLAS may block a slice's product
            # differently from the whole clip's, a few ulps (measured up to 1.3e-6 relative).
            np.testing.assert_allclose(own[name][..., inner], frames[name][..., a:b][..., inner],
                                       rtol=1e-5, atol=1e-9, err_msg=f"{name}, segment {i}")
        # Same floor where the segment holds the clip's loudest mel frame (then every inner
        # frame agrees), else the frames where no band reaches down to the clip's floor.
        own_mel = F.log_mel_spectrogram(y=part)
        same_floor = own_mel.max() == log_mel.max()
        keep = np.ones(b - a - 4, bool) if same_floor else unfloored[a:b][inner]
        np.testing.assert_allclose(own["mfcc"][:, inner][:, keep],
                                   frames["mfcc"][:, a:b][:, inner][:, keep], rtol=1e-5,
                                   atol=1e-3, err_msg=f"segment {i}")
        checked_mfcc += int(keep.sum())
        # The pooled rows: within the edge frames' share of each feature's range.
        row = F.extract_features(part)
        for name in ("envelope", "rms", "zcr", "ber", "spec_cent", "spec_bw", "rolloff"):
            both = np.concatenate([own[name], frames[name][a:b]])
            bound = 4 / (b - a) * (both.max() - both.min()) + 1e-6 * abs(both).max()
            assert abs(table[f"mean_{name}"].iloc[i] - row[f"mean_{name}"]) <= bound, name
    assert checked_mfcc > 100  # the MFCC comparison saw real frames


# ---------------------------------------------------------------------------------------------
# Segment tables


def _link_or_copy(src, dst):
    """A hard link (no copy of the audio, and no symbolic link, which annotations refuse)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@pytest.fixture
def data_copy(demo_dir, tmp_path):
    """The demo folder's annotations copied, its WAVs hard-linked (read, never written)."""
    data = tmp_path / "data"
    for split in list_splits(demo_dir):
        (data / split).mkdir(parents=True)
        shutil.copytree(demo_dir / split / "audios", data / split / "audios",
                        copy_function=_link_or_copy)
        shutil.copy2(demo_dir / split / "annotations.csv", data / split / "annotations.csv")
    return data


def test_segment_tables(data_copy):
    tables = F.build_feature_tables(data_copy, segment=3.0, stats=("mean", "std"), n_jobs=1,
                                    progress=False, log=lambda m: None)
    columns = F.feature_names(stats=("mean", "std"))
    metas = F.check_feature_tables(data_copy)
    for split, table in tables.items():
        written = pd.read_csv(data_copy / split / "features.csv")
        assert list(written.columns) == ["audio_file", *LEVELS, "segment", *columns]
        assert list(table.columns) == list(written.columns) and len(table) == len(written)
        np.testing.assert_array_equal(table["segment"].to_numpy(), written["segment"])
        assert not written.isna().any().any()
        n_clips = written["audio_file"].nunique()
        assert len(written) == 10 * n_clips  # 30 s clips: 10 segments of 3 s
        assert (written.groupby("audio_file", sort=False)["segment"].apply(list)
                == [list(range(10))] * n_clips).all()
        meta = metas[split]
        assert (meta["segment"], meta["segment_hop"]) == (3.0, 3.0)
        assert meta["n_rows"] == len(written) and meta["n_clips"] == n_clips
        assert meta["feature_columns"] == columns
    # The rows of one clip are extract_features(clip, segment=3.0), through CSV and processes.
    written = pd.read_csv(data_copy / "train" / "features.csv")
    clip = written["audio_file"].iloc[0]
    want = F.extract_features(load_audio(data_copy / clip), stats=("mean", "std"), segment=3.0)
    got = written[written["audio_file"] == clip].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[want.columns], want, rtol=1e-6)
    # Never rank the segment index as a feature.
    assert "segment" not in set(F.rank_features(written, label_column=LEVELS[0])["feature"])
    assert "segment" not in set(F.correlated_pairs(written, top=None)["feature_a"])


def test_segment_and_whole_clip_splits_are_refused_together(data_copy):
    F.build_feature_tables(data_copy, n_jobs=1, progress=False, log=lambda m: None)
    F.build_feature_table(data_copy / "test", segment=3.0, segment_hop=1.5, n_jobs=1,
                          progress=False, log=lambda m: None)
    meta = F.check_feature_table(data_copy / "test")
    assert (meta["segment"], meta["segment_hop"]) == (3.0, 1.5)
    with pytest.raises(F.StaleFeaturesError, match=r"segment is 3.0 in 'test' but None"):
        F.check_feature_tables(data_copy)
    # A segment table whose segment column went missing is refused too.
    table = pd.read_csv(data_copy / "test" / "features.csv")
    table.drop(columns="segment").to_csv(data_copy / "test" / "features.csv", index=False)
    with pytest.raises(F.StaleFeaturesError, match=r"missing \['segment'\]"):
        F.check_feature_table(data_copy / "test")


def test_unreadable_clips_are_left_out_of_a_segment_table(data_copy):
    split = data_copy / "validation"
    ann = pd.read_csv(split / "annotations.csv", dtype=str, keep_default_na=False)
    bad = ann.iloc[:1].copy()
    bad["audio_file"] = "validation/missing.wav"
    pd.concat([bad, ann]).to_csv(split / "annotations.csv", index=False)
    messages = []
    table = F.build_feature_table(split, segment=3.0, n_jobs=1, progress=False,
                                  log=messages.append)
    assert len(messages) == 1 and "validation/missing.wav" in messages[0]
    assert "validation/missing.wav" not in set(table["audio_file"])
    assert len(table) == 10 * len(ann)
    skipped = pd.read_csv(split / "features_skipped.csv")
    assert list(skipped["audio_file"]) == ["validation/missing.wav"]
    assert F.check_feature_table(split)["n_clips"] == len(ann)
