"""Tests of ``bag_of_songs.data``: decoding, crop and pad, every source of ``prepare``, the skip
report, resume after an interruption, idempotent re-runs, and the splits.

Known answers throughout: decoding agrees with ``librosa.load`` + ``fix_length`` on real and
synthetic files, a 440 Hz tone stays at 440 Hz through resampling, a prepared WAV holds exactly
the clip that was decoded, and a split puts each class's share where the fractions say.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from bag_of_songs import data as D
from bag_of_songs.data import (
    CCMUSIC_CLASSES,
    CCMUSIC_HIERARCHY,
    LEVELS,
    N_SAMPLES,
    SAMPLE_RATE,
    AudioLoadError,
    DataSourceError,
    class_balance,
    decode,
    fix_length,
    list_demo_items,
    list_splits,
    load_audio,
    load_ccmusic,
    parse_splits,
    prepare,
    read_annotations,
    read_skipped,
    split_items,
    synthesize_demo_clip,
    to_clip,
)

SR = SAMPLE_RATE
QUIET = {"progress": False, "log": lambda msg: None}
# Prepared WAVs are 32-bit float: read back, they equal the clip exactly (kept as a tolerance
# name for the comparisons below).
PCM16_ATOL = 1e-7


# ---------------------------------------------------------------------------------------------
# Helpers


def tone(freq: float, seconds: float, sr: int, *, amp: float = 0.5) -> np.ndarray:
    """A sine of ``freq`` Hz, float32, shape (round(sr * seconds),)."""
    t = np.arange(int(round(sr * seconds))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(y: np.ndarray, sr: int) -> float:
    """Frequency of the largest FFT bin of ``y`` (Hann window)."""
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1.0 / sr)[np.argmax(spec)])


def wav_is_clip(path: Path) -> bool:
    """A prepared WAV: mono, 22,050 Hz, exactly 661,500 samples, 32-bit float."""
    info = sf.info(str(path))
    return (info.frames == N_SAMPLES and info.samplerate == SR and info.channels == 1
            and info.format == "WAV" and info.subtype == "FLOAT")


def write_folder(root: Path, spec: dict[str, list[float]], *, sr: int = 16000,
                 seconds: float = 0.3) -> Path:
    """ROOT/<genre>/clip_<k>.wav, one short tone per frequency in ``spec[genre]``."""
    for genre, freqs in spec.items():
        (root / genre).mkdir(parents=True, exist_ok=True)
        for k, f in enumerate(freqs):
            sf.write(root / genre / f"clip_{k}.wav", tone(f, seconds, sr), sr)
    return root


def snapshot(root: Path, *, exclude: Path | None = None) -> dict[str, tuple[int, int, bytes]]:
    """Every file under ``root`` (but not under ``exclude``, and not the lock file, which holds
    the pid of the last run): size, mtime and content."""
    out = {}
    for p in sorted(root.rglob("*")):
        if exclude is not None and (p == exclude or exclude in p.parents):
            continue
        if p.name == D.LOCK_NAME:
            continue
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, p.read_bytes())
    return out


def listed_files(out: Path) -> dict[str, pd.DataFrame]:
    return {s: read_annotations(out / s) for s in list_splits(out)}


# ---------------------------------------------------------------------------------------------
# load_audio on real mp3s


@pytest.mark.parametrize("k", [0, 2, 4, 6], ids=["classical", "electronic", "pop", "rock"])
def test_load_audio_real_mp3_matches_librosa(emotify_clips, k):
    import librosa

    path = emotify_clips[k]
    info = sf.info(str(path))
    assert (info.samplerate, info.channels) == (44100, 2)  # the test exercises mix + resample

    y = load_audio(path)
    assert y.dtype == np.float32
    assert y.shape == (N_SAMPLES,) == (661500,)
    expected = librosa.util.fix_length(librosa.load(path, sr=22050, duration=30.0)[0],
                                       size=661500)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-6)
    assert np.abs(y).max() > 0.01  # real music, not silence


# ---------------------------------------------------------------------------------------------
# Crop and pad, channels, rates and formats (synthetic files with known content)


def test_short_clip_is_padded_with_zeros_at_the_end(tmp_path):
    x = tone(440, 0.5, SR)
    sf.write(tmp_path / "short.wav", x, SR, subtype="FLOAT")
    y = load_audio(tmp_path / "short.wav")
    assert y.shape == (N_SAMPLES,) and y.dtype == np.float32
    np.testing.assert_array_equal(y[: len(x)], x)  # the start is kept sample for sample
    assert not np.any(y[len(x):])  # then zeros to 30 s


def test_exactly_30_s_at_22050_is_unchanged(tmp_path, rng):
    x = rng.uniform(-0.9, 0.9, N_SAMPLES).astype(np.float32)
    sf.write(tmp_path / "exact.wav", x, SR, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(tmp_path / "exact.wav"), x)


def test_longer_clip_is_cropped_from_the_start(tmp_path, rng):
    x = rng.uniform(-0.9, 0.9, N_SAMPLES + SR).astype(np.float32)  # 31 s
    x[N_SAMPLES:] = 0.99  # what must be cut off is recognisable
    sf.write(tmp_path / "long.wav", x, SR, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(tmp_path / "long.wav"), x[:N_SAMPLES])


def test_int16_wav_is_scaled_to_float(tmp_path, rng):
    x = rng.integers(-32768, 32767, SR, dtype=np.int16)
    sf.write(tmp_path / "pcm16.wav", x, SR, subtype="PCM_16")
    y = load_audio(tmp_path / "pcm16.wav")
    np.testing.assert_array_equal(y[:SR], x.astype(np.float32) / 32768.0)
    assert not np.any(y[SR:])


def test_six_channels_are_mixed_to_their_mean(tmp_path, rng):
    x = rng.uniform(-0.5, 0.5, (SR, 6)).astype(np.float32)
    x[:, 0] += 0.3  # channels differ, so a wrong mix (e.g. the first channel) fails
    sf.write(tmp_path / "six.wav", x, SR, subtype="FLOAT")
    y = load_audio(tmp_path / "six.wav")
    np.testing.assert_allclose(y[:SR], x.mean(axis=1), rtol=0, atol=1e-6)
    assert not np.any(y[SR:])


@pytest.mark.parametrize(("ext", "subtype", "sr", "channels"), [
    ("wav", "PCM_16", 8000, 1),
    ("wav", "FLOAT", 48000, 2),
    ("wav", "PCM_24", 44100, 6),
    ("flac", "PCM_16", 44100, 2),
    ("ogg", "VORBIS", 22050, 1),
    ("ogg", "VORBIS", 48000, 2),
])
def test_rates_formats_and_channels_agree_with_librosa(tmp_path, ext, subtype, sr, channels):
    import librosa

    x = tone(440, 2.0, sr)
    gains = np.linspace(1.0, 0.4, channels, dtype=np.float32)
    path = tmp_path / f"tone.{ext}"
    sf.write(path, x[:, None] * gains if channels > 1 else x, sr, subtype=subtype)

    y = load_audio(path)
    assert y.shape == (N_SAMPLES,) and y.dtype == np.float32
    # The tone keeps its pitch through resampling (FFT resolution 0.5 Hz over 2 s).
    assert abs(peak_hz(y[: 2 * SR], SR) - 440.0) <= 1.0
    # 2 s of tone, then silence: the duration survives resampling.
    rms_mix = 0.5 * gains.mean() / np.sqrt(2)
    assert np.sqrt(np.mean(y[SR // 4 : 7 * SR // 4] ** 2)) == pytest.approx(rms_mix, rel=0.05)
    assert np.abs(y[2 * SR + SR // 20 :]).max() < 1e-3
    expected = librosa.util.fix_length(librosa.load(path, sr=22050, duration=30.0)[0],
                                       size=N_SAMPLES)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-5)


def test_load_audio_reads_a_binary_buffer(tmp_path):
    x = tone(440, 0.5, 44100)
    buf = io.BytesIO()
    sf.write(buf, x, 44100, format="WAV", subtype="FLOAT")
    buf.seek(0)
    y = load_audio(buf)
    assert y.shape == (N_SAMPLES,)
    assert abs(peak_hz(y[: SR // 2], SR) - 440.0) <= 2.0


def test_load_audio_other_rate_and_duration(tmp_path):
    sf.write(tmp_path / "t.wav", tone(440, 3.0, 44100), 44100)
    y = load_audio(tmp_path / "t.wav", sr=16000, duration=1.0)
    assert y.shape == (16000,)
    assert abs(peak_hz(y, 16000) - 440.0) <= 1.0


# ---------------------------------------------------------------------------------------------
# fix_length and to_clip


def test_fix_length_crops_and_pads():
    np.testing.assert_array_equal(fix_length(np.arange(5), 3), [0, 1, 2])
    padded = fix_length(np.arange(1, 4), 6)
    np.testing.assert_array_equal(padded, [1, 2, 3, 0, 0, 0])
    assert padded.dtype == np.float32
    assert fix_length(np.ones(10)).shape == (N_SAMPLES,)
    same = np.arange(N_SAMPLES, dtype=np.float32)
    np.testing.assert_array_equal(fix_length(same), same)


@pytest.mark.parametrize("bad", [
    np.zeros((10, 2)), np.zeros(0), np.array([0.0, np.nan, 1.0]), np.array([np.inf, 0.0]),
    np.float32(1.0),
], ids=["2-D", "empty", "nan", "inf", "scalar"])
def test_fix_length_refuses_bad_input(bad):
    with pytest.raises(ValueError):
        fix_length(bad)


def test_fix_length_refuses_non_positive_length():
    with pytest.raises(ValueError, match="positive"):
        fix_length(np.ones(4), 0)


def test_to_clip_mixes_channels_on_either_axis(rng):
    x = rng.uniform(-0.5, 0.5, (1000, 3)).astype(np.float32)
    np.testing.assert_allclose(to_clip(x, SR)[:1000], x.mean(axis=1), atol=1e-7)
    np.testing.assert_allclose(to_clip(x.T, SR, channel_axis=0)[:1000], x.mean(axis=1),
                               atol=1e-7)
    assert not np.any(to_clip(x, SR)[1000:])


def test_to_clip_resamples_and_sets_duration():
    y = to_clip(tone(440, 2.0, 11025), 11025, duration=2.0)
    assert y.shape == (2 * SR,) and y.dtype == np.float32
    assert abs(peak_hz(y, SR) - 440.0) <= 1.0


@pytest.mark.parametrize(("bad", "orig_sr", "match"), [
    (np.zeros(0), SR, "no samples"),
    (np.zeros((0, 2)), SR, "no samples"),
    (np.array([0.1, np.nan]), SR, "non-finite"),
    (np.array([[0.1, -np.inf]]), SR, "non-finite"),
    (np.zeros((2, 2, 2)), SR, "shape"),
    (np.ones(10), 0, "sampling rate"),
])
def test_to_clip_refuses_bad_input(bad, orig_sr, match):
    with pytest.raises(ValueError, match=match):
        to_clip(bad, orig_sr)


# ---------------------------------------------------------------------------------------------
# AudioLoadError


def _bad_file(tmp_path: Path, kind: str) -> Path:
    good = io.BytesIO()
    sf.write(good, tone(440, 1.0, SR), SR, format="WAV", subtype="PCM_16")
    good_bytes = good.getvalue()
    p = {"missing": tmp_path / "missing.wav", "empty": tmp_path / "empty.mp3",
         "text_mp3": tmp_path / "notes.mp3", "text_wav": tmp_path / "notes.wav",
         "truncated_wav": tmp_path / "cut.wav", "header_only_wav": tmp_path / "header.wav",
         "garbage_mp3": tmp_path / "garbage.mp3", "folder": tmp_path / "folder.wav",
         "nan_wav": tmp_path / "nan.wav"}[kind]
    if kind == "empty":
        p.write_bytes(b"")
    elif kind in ("text_mp3", "text_wav"):
        p.write_text("These are my notes, not a song.\n" * 40)
    elif kind == "truncated_wav":
        p.write_bytes(good_bytes[:24])  # cut inside the 'fmt ' chunk
    elif kind == "header_only_wav":
        p.write_bytes(good_bytes[:44])  # a valid header, no samples
    elif kind == "garbage_mp3":
        p.write_bytes(b"ID3" + np.random.default_rng(1).bytes(8000))
    elif kind == "folder":
        p.mkdir()
    elif kind == "nan_wav":
        x = tone(440, 0.5, SR)
        x[100] = np.nan
        sf.write(p, x, SR, subtype="FLOAT")
    return p


@pytest.mark.parametrize(("kind", "reason"), [
    ("missing", "no such file"),
    ("empty", "empty"),
    ("text_mp3", "cannot decode"),
    ("text_wav", "cannot decode"),
    ("truncated_wav", "cannot decode"),
    ("header_only_wav", "no audio samples"),
    ("garbage_mp3", "cannot decode"),
    ("folder", "folder"),
    ("nan_wav", "non-finite"),
])
def test_unreadable_input_raises_audio_load_error_naming_the_file(tmp_path, kind, reason):
    path = _bad_file(tmp_path, kind)
    with pytest.raises(AudioLoadError) as err:
        load_audio(path)
    msg = str(err.value)
    assert str(path) in msg
    assert reason in msg
    if path.exists():  # libsndfile's "File does not exist" must not reach the user
        assert "does not exist" not in msg


def test_undecodable_buffer_names_its_source():
    buf = io.BytesIO(b"not audio at all" * 100)
    buf.name = "dataset:train:7"
    with pytest.raises(AudioLoadError, match="dataset:train:7"):
        load_audio(buf)


# ---------------------------------------------------------------------------------------------
# The demo corpus


def test_synthesize_demo_clip_is_deterministic():
    a = synthesize_demo_clip("rock", 3)
    assert a.shape == (N_SAMPLES,) and a.dtype == np.float32
    assert 0.25 < np.abs(a).max() < 1.0
    np.testing.assert_array_equal(a, synthesize_demo_clip("rock", 3))
    assert not np.array_equal(a, synthesize_demo_clip("rock", 4))
    assert not np.array_equal(a[:SR], synthesize_demo_clip("dance", 3)[:SR])
    assert synthesize_demo_clip("solo", 0, duration=1.0).shape == (SR,)
    with pytest.raises(ValueError, match="unknown demo style"):
        synthesize_demo_clip("jazz", 0)


def test_demo_classic_styles_have_no_percussion():
    """Percussion shows as peaky onset strength and noise energy above 5 kHz."""
    import librosa

    def measures(y):
        onset = librosa.onset.onset_strength(y=y, sr=SR)
        spec = np.abs(librosa.stft(y)) ** 2
        high = spec[librosa.fft_frequencies(sr=SR) > 5000].sum() / spec.sum()
        return onset.std() / onset.mean(), high

    got = {(style, seed): measures(synthesize_demo_clip(style, seed, duration=10.0))
           for style in ("symphony", "solo", "rock", "dance") for seed in (0, 1)}
    classic = [v for (style, _), v in got.items() if style in ("symphony", "solo")]
    other = [v for (style, _), v in got.items() if style in ("rock", "dance")]
    # Every Classic clip is smoother and darker than every Non_classic one, with margin.
    assert max(c[0] for c in classic) * 1.3 < min(o[0] for o in other)
    assert max(c[1] for c in classic) * 2 < min(o[1] for o in other)


def test_list_demo_items_follows_the_hierarchy():
    items = list_demo_items(3)
    assert len(items) == 12
    assert len({it.source for it in items}) == 12
    for it in items:
        fst, thr_names = CCMUSIC_HIERARCHY[it.labels["sec_level_label"]]
        assert it.labels["fst_level_label"] == fst
        assert it.labels["thr_level_label"] in thr_names
    with pytest.raises(ValueError):
        list_demo_items(0)


def test_prepared_demo_corpus(demo_dir):
    anns = listed_files(demo_dir)
    assert list(anns) == ["train", "validation", "test"]
    everything = pd.concat(anns.values(), ignore_index=True)
    for df in anns.values():
        assert list(df.columns) == ["audio_file", "fst_level_label", "sec_level_label",
                                    "thr_level_label", "source", "source_stamp"]
    # Every demo item exactly once, labels in CCMusic's scheme and nested as in CCMusic.
    expected = {it.source: it.labels for it in list_demo_items(5)}
    assert sorted(everything["source"]) == sorted(expected)
    assert everything["audio_file"].is_unique
    for row in everything.itertuples():
        for level in LEVELS:
            assert getattr(row, level) in CCMUSIC_CLASSES[level]
            assert getattr(row, level) == expected[row.source][level]
    assert set(everything["fst_level_label"]) == {"Classic", "Non_classic"}
    # Every WAV is a complete clip, holding exactly the synthesised audio.
    for row in everything.itertuples():
        assert row.audio_file.startswith(f"{row.audio_file.split('/')[0]}/audios/audio_")
        assert wav_is_clip(demo_dir / row.audio_file)
    for row in everything.iloc[[0, -1]].itertuples():
        _, style, seed = row.source.split(":")
        y, sr = sf.read(demo_dir / row.audio_file, dtype="float32")
        np.testing.assert_allclose(y, synthesize_demo_clip(style, int(seed)), atol=PCM16_ATOL)
    # Stratified by the finest level: each class's share per split within one clip.
    fractions = parse_splits(None)
    for cls, n in everything["thr_level_label"].value_counts().items():
        for split, df in anns.items():
            got = int((df["thr_level_label"] == cls).sum())
            assert abs(got - fractions[split] * n) < 1, (cls, split, got, n)


def test_demo_is_deterministic_and_parallel_equals_sequential(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    prepare("demo", a, demo_size=1, split="train", n_jobs=2, seed=5, **QUIET)
    prepare("demo", b, demo_size=1, split="train", n_jobs=1, seed=5, **QUIET)
    sa, sb = snapshot(a), snapshot(b)
    assert sorted(sa) == sorted(sb) == sorted(
        ["prepare.json", "train/annotations.csv"]
        + [f"train/audios/audio_train_{i}.wav" for i in range(4)])
    for name in sa:
        assert sa[name][2] == sb[name][2], name  # identical bytes


# ---------------------------------------------------------------------------------------------
# A folder of genre subfolders


@pytest.fixture
def emotify_folder(tmp_path, emotify_clips) -> Path:
    """Two real clips per genre, linked (or copied) into tmp_path/music/<genre>/."""
    root = tmp_path / "music"
    for clip in emotify_clips:
        dest = root / clip.parent.name / clip.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            dest.symlink_to(clip)
        except OSError:
            shutil.copy(clip, dest)
    return root


def test_prepare_folder_of_real_clips(emotify_folder, tmp_path):
    out = tmp_path / "out"
    report = prepare(emotify_folder, out, splits="train=0.5,test=0.5", n_jobs=2, **QUIET)
    assert report.written == {"train": 4, "test": 4}
    assert report.skipped == {"train": [], "test": []}
    anns = listed_files(out)
    assert list(anns) == ["train", "test"]
    for df in anns.values():
        assert list(df.columns) == ["audio_file", "label", "fst_level_label", "source",
                                    "source_stamp"]
        # Stratified: one clip of each genre in each half.
        assert sorted(df["label"]) == ["classical", "electronic", "pop", "rock"]
        assert (df["fst_level_label"] == np.where(df["label"] == "classical", "Classic",
                                                  "Non_classic")).all()
        assert (df["source"] == df["label"] + "/" + df["source"].str.split("/").str[1]).all()
    everything = pd.concat(anns.values())
    assert sorted(everything["source"]) == sorted(
        str(p.relative_to(emotify_folder)) for p in emotify_folder.rglob("*.mp3"))
    for row in everything.itertuples():
        assert wav_is_clip(out / row.audio_file)
    row = anns["test"].iloc[0]
    y, _ = sf.read(out / row["audio_file"], dtype="float32")
    np.testing.assert_allclose(y, load_audio(emotify_folder / row["source"]), atol=PCM16_ATOL)


def test_folder_labels_and_classic_level(tmp_path):
    src = write_folder(tmp_path / "src", {"blues": [220, 330], "metal": [440, 550]})
    out = tmp_path / "out"
    prepare(src, out, split="all", n_jobs=1, **QUIET)
    df = read_annotations(out / "all")
    # No Classic genre: no fst_level_label.
    assert list(df.columns) == ["audio_file", "label", "source", "source_stamp"]
    assert list(df["label"]) == ["blues", "blues", "metal", "metal"]
    assert list(df["source"]) == ["blues/clip_0.wav", "blues/clip_1.wav", "metal/clip_0.wav",
                                  "metal/clip_1.wav"]
    # The WAVs follow the listed order: the tone of row k is the k-th file's frequency.
    for row, f in zip(df.itertuples(), (220, 330, 440, 550), strict=True):
        y, _ = sf.read(out / row.audio_file, dtype="float32")
        assert abs(peak_hz(y[: int(0.3 * SR)], SR) - f) < 10

    prepare(src, out, split="all", classic=["blues"], n_jobs=1, **QUIET)
    df = read_annotations(out / "all")
    assert list(df.columns) == ["audio_file", "label", "fst_level_label", "source",
                                    "source_stamp"]
    assert list(df["fst_level_label"]) == ["Classic", "Classic", "Non_classic", "Non_classic"]


def test_split_option_adds_one_split_and_leaves_the_others(tmp_path):
    first = write_folder(tmp_path / "first", {"classical": [220, 230], "rock": [440, 450]})
    second = write_folder(tmp_path / "second", {"classical": [600], "rock": [700, 800]})
    out = tmp_path / "out"
    prepare(first, out, splits="train=0.5,test=0.5", n_jobs=1, **QUIET)
    (out / "notes.txt").write_text("mine")
    before_train = snapshot(out / "train")
    assert len(read_annotations(out / "test")) == 2

    report = prepare(second, out, split="test", n_jobs=1, **QUIET)
    assert list(report.written) == ["test"]
    test = read_annotations(out / "test")
    assert list(test["source"]) == ["classical/clip_0.wav", "rock/clip_0.wav", "rock/clip_1.wav"]
    assert list(test["fst_level_label"]) == ["Classic", "Non_classic", "Non_classic"]
    for row, f in zip(test.itertuples(), (600, 700, 800), strict=True):
        y, _ = sf.read(out / row.audio_file, dtype="float32")
        assert abs(peak_hz(y[: int(0.3 * SR)], SR) - f) < 10
    assert snapshot(out / "train") == before_train  # bytes and mtimes untouched
    assert (out / "notes.txt").read_text() == "mine"
    assert list_splits(out) == ["train", "test"]


def test_folder_source_errors(tmp_path):
    with pytest.raises(DataSourceError, match="no genre subfolders"):
        (tmp_path / "flat").mkdir()
        (tmp_path / "flat" / "a.wav").write_bytes(b"")
        prepare(tmp_path / "flat", tmp_path / "out", **QUIET)
    with pytest.raises(DataSourceError, match="hold no files"):
        (tmp_path / "hollow" / "rock").mkdir(parents=True)
        prepare(tmp_path / "hollow", tmp_path / "out", **QUIET)
    with pytest.raises(DataSourceError):
        prepare(tmp_path / "does-not-exist", tmp_path / "out", **QUIET)
    src = write_folder(tmp_path / "src", {"rock": [440]})
    for bad in ("a/b", ".hidden", ""):
        with pytest.raises(ValueError):
            prepare(src, tmp_path / "out", split=bad, **QUIET)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# ---------------------------------------------------------------------------------------------
# Hugging Face datasets: CCMusic's schema and a generic one, built offline


def _audio(freq: float, sr: int = SR, seconds: float = 0.25) -> dict:
    return {"array": tone(freq, seconds, sr), "sampling_rate": sr}


def _mel_image():
    from PIL import Image

    return Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8))


# (sec, thr, tone frequency, sampling rate of the stored audio) per row and split.
CC_ROWS = {
    "train": [("Symphony", "Symphony", 220, 22050), ("Soul_or_r_and_b", "Soul_or_RnB", 330, 16000),
              ("Rock", "Soft_rock", 440, 22050), ("Pop", "Teen_pop", 550, 44100)],
    "validation": [("Opera", "Opera", 660, 22050)],
    "test": [("Dance_and_house", "Dance_pop", 770, 22050),
             ("Soul_or_r_and_b", "Soul_or_RnB", 880, 22050)],
}


def ccmusic_features(datasets):
    """CCMusic's schema; the old revision's spelling Soul_or_r_and_b at the second level."""
    sec = ["Soul_or_r_and_b" if c == "Soul_or_RnB" else c
           for c in CCMUSIC_CLASSES["sec_level_label"]]
    return datasets.Features({
        "audio": datasets.Audio(sampling_rate=22050),
        "mel": datasets.Image(),
        "fst_level_label": datasets.ClassLabel(names=CCMUSIC_CLASSES["fst_level_label"]),
        "sec_level_label": datasets.ClassLabel(names=sec),
        "thr_level_label": datasets.ClassLabel(names=CCMUSIC_CLASSES["thr_level_label"]),
    })


def ccmusic_dataset_dict():
    datasets = pytest.importorskip("datasets")
    feats = ccmusic_features(datasets)
    dd = {}
    for split, rows in CC_ROWS.items():
        dd[split] = datasets.Dataset.from_dict({
            "audio": [_audio(f, sr) for _, _, f, sr in rows],
            "mel": [_mel_image() for _ in rows],
            "fst_level_label": [
                "Classic" if CCMUSIC_HIERARCHY.get(s, ("Non_classic",))[0] == "Classic"
                else "Non_classic" for s, _, _, _ in rows],
            "sec_level_label": [s for s, _, _, _ in rows],
            "thr_level_label": [t for _, t, _, _ in rows],
        }, features=feats)
    return datasets.DatasetDict(dd)


@pytest.fixture
def ccmusic_local(tmp_path) -> Path:
    path = tmp_path / "ccmusic_local"
    ccmusic_dataset_dict().save_to_disk(str(path))
    return path


def test_prepare_ccmusic_from_a_local_copy(ccmusic_local, tmp_path):
    out = tmp_path / "out"
    report = prepare("ccmusic", out, dataset_path=ccmusic_local, n_jobs=1, **QUIET)
    assert report.written == {"train": 4, "validation": 1, "test": 2}  # its own splits
    anns = listed_files(out)
    assert list(anns) == ["train", "validation", "test"]
    for split, rows in CC_ROWS.items():
        df = anns[split]
        assert list(df.columns) == ["audio_file", *LEVELS, "source", "source_stamp"]
        assert list(df["sec_level_label"]) == [
            "Soul_or_RnB" if s == "Soul_or_r_and_b" else s for s, *_ in rows]
        assert list(df["thr_level_label"]) == [t for _, t, _, _ in rows]
        for row in df.itertuples():
            assert row.fst_level_label == CCMUSIC_HIERARCHY[row.sec_level_label][0]
        assert list(df["source"]) == [f"ccmusic:{split}:{i}" for i in range(len(rows))]
        assert list(df["audio_file"]) == [f"{split}/audios/audio_{split}_{i}.wav"
                                          for i in range(len(rows))]
        for row, (_, _, f, _) in zip(df.itertuples(), rows, strict=True):
            assert wav_is_clip(out / row.audio_file)
            y, _ = sf.read(out / row.audio_file, dtype="float32")
            assert abs(peak_hz(y[: SR // 4], SR) - f) < 10  # the row's own audio
            assert np.abs(y[SR // 4 + 100 :]).max() < 1e-3  # zero-padded after 0.25 s
    # The old spelling is one class with the new one.
    assert "Soul_or_r_and_b" not in pd.concat(anns.values())["sec_level_label"].to_numpy()
    bal = class_balance(out)
    assert bal.query("split == 'test' and level == 'sec_level_label'")["class"].tolist() == [
        "Dance_and_house", "Soul_or_RnB"]


def test_prepare_ccmusic_one_label_column(ccmusic_local, tmp_path):
    out = tmp_path / "out"
    prepare("ccmusic", out, dataset_path=ccmusic_local, label_column="sec_level_label",
            n_jobs=1, **QUIET)
    df = read_annotations(out / "test")
    assert list(df.columns) == ["audio_file", "sec_level_label", "source", "source_stamp"]
    assert list(df["sec_level_label"]) == ["Dance_and_house", "Soul_or_RnB"]


def test_load_ccmusic_calls_the_hub_as_the_study_did(monkeypatch, tmp_path):
    datasets = pytest.importorskip("datasets")
    dd = ccmusic_dataset_dict()
    calls = []

    def fake_load_dataset(path, *args, **kwargs):
        calls.append((path, args, kwargs))
        return dd

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    loaded = load_ccmusic(revision="0123abc")
    assert len(calls) == 1
    path, args, kwargs = calls[0]
    assert (path, args) == ("ccmusic-database/music_genre", ())
    assert kwargs.get("name") == "default"
    assert kwargs.get("trust_remote_code") is True
    assert kwargs.get("revision") == "0123abc"
    assert set(loaded) == {"train", "validation", "test"}

    out = tmp_path / "out"
    report = prepare("ccmusic", out, revision="0123abc", n_jobs=1, **QUIET)
    assert calls[-1][2]["revision"] == "0123abc" and calls[-1][2]["name"] == "default"
    assert report.n_prepared == 7
    assert list_splits(out) == ["train", "validation", "test"]


def _eval_config(datasets):
    """Like the hub's ``eval`` config today: spectrogram images and labels, no audio."""
    feats = datasets.Features({
        "mel": datasets.Image(), "cqt": datasets.Image(), "chroma": datasets.Image(),
        **{lv: datasets.ClassLabel(names=CCMUSIC_CLASSES[lv]) for lv in LEVELS}})
    ds = datasets.Dataset.from_dict({
        "mel": [_mel_image()], "cqt": [_mel_image()], "chroma": [_mel_image()],
        "fst_level_label": [0], "sec_level_label": [0], "thr_level_label": [0]}, features=feats)
    return datasets.DatasetDict({"train": ds, "validation": ds, "test": ds})


def test_ccmusic_without_audio_says_how_to_get_it(monkeypatch, tmp_path, capsys):
    datasets = pytest.importorskip("datasets")
    from bag_of_songs.cli import main

    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: _eval_config(datasets))
    with pytest.raises(DataSourceError) as err:
        load_ccmusic()
    msg = str(err.value)
    for needed in ("no audio column", "revision", "ModelScope", "local copy"):
        assert needed in msg
    out = tmp_path / "out"
    with pytest.raises(DataSourceError, match="ModelScope"):
        prepare("ccmusic", out, **QUIET)
    assert not out.exists()  # never an empty corpus, silently

    assert main(["prepare", "ccmusic", "--out", str(out), "--quiet"]) != 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    errors = [ln for ln in captured.err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "CCMusic" in errors[0]
    assert "ModelScope" in captured.err


def test_ccmusic_local_copy_without_audio_is_refused(tmp_path):
    datasets = pytest.importorskip("datasets")
    path = tmp_path / "eval"
    _eval_config(datasets).save_to_disk(str(path))
    with pytest.raises(DataSourceError, match="ModelScope"):
        load_ccmusic(path=path)


def test_ccmusic_hub_failure_names_the_ways_out(monkeypatch):
    datasets = pytest.importorskip("datasets")

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataSourceError) as err:
        load_ccmusic(revision="r1")
    msg = str(err.value)
    assert "no network" in msg and "'r1'" in msg
    assert "ModelScope" in msg and "local copy" in msg


GENRES = ["blues", "metal", "jazz"]


def generic_dataset(datasets, *, n_per_class: int = 4, extra_label: bool = False):
    """A single-split dataset of 16 kHz tones with a ``label`` ClassLabel (and ``mood``)."""
    labels = [g for g in range(len(GENRES)) for _ in range(n_per_class)]
    cols = {"audio": [_audio(200 + 100 * i, 16000, 0.2) for i in range(len(labels))],
            "label": labels, "artist": [f"artist {i}" for i in range(len(labels))]}
    feats = {"audio": datasets.Audio(), "label": datasets.ClassLabel(names=GENRES),
             "artist": datasets.Value("string")}
    if extra_label:
        cols["mood"] = [i % 2 for i in range(len(labels))]
        feats["mood"] = datasets.ClassLabel(names=["calm", "angry"])
    return datasets.Dataset.from_dict(cols, features=datasets.Features(feats))


def test_prepare_generic_dataset_with_one_split(tmp_path):
    datasets = pytest.importorskip("datasets")
    src = tmp_path / "tiny_genres"
    datasets.DatasetDict({"train": generic_dataset(datasets)}).save_to_disk(str(src))
    out = tmp_path / "out"
    report = prepare(src, out, splits="train=0.5,test=0.5", n_jobs=2, seed=3, **QUIET)
    assert report.written == {"train": 6, "test": 6}
    anns = listed_files(out)
    for df in anns.values():
        assert list(df.columns) == ["audio_file", "label", "source", "source_stamp"]
        assert sorted(df["label"]) == sorted(GENRES * 2)  # stratified: two of each
        assert df["source"].str.startswith("tiny_genres:train:").all()
    everything = pd.concat(anns.values())
    assert sorted(everything["source"]) == sorted(f"tiny_genres:train:{i}" for i in range(12))
    for row in everything.itertuples():
        i = int(row.source.rsplit(":", 1)[1])
        assert row.label == GENRES[i // 4]
        y, _ = sf.read(out / row.audio_file, dtype="float32")
        assert len(y) == N_SAMPLES
        assert abs(peak_hz(y[: int(0.2 * SR)], SR) - (200 + 100 * i)) < 10


def test_label_column_selection(tmp_path):
    datasets = pytest.importorskip("datasets")
    src = tmp_path / "moods"
    generic_dataset(datasets, n_per_class=2, extra_label=True).save_to_disk(str(src))
    prepare(src, tmp_path / "a", split="test", n_jobs=1, **QUIET)  # default: `label`
    assert list(read_annotations(tmp_path / "a" / "test").columns) == [
        "audio_file", "label", "source", "source_stamp"]
    prepare(src, tmp_path / "b", split="test", label_column="mood", n_jobs=1, **QUIET)
    df = read_annotations(tmp_path / "b" / "test")
    assert list(df.columns) == ["audio_file", "mood", "source", "source_stamp"]
    assert list(df["mood"]) == ["calm", "angry"] * 3
    with pytest.raises(DataSourceError, match="no label column 'genre'"):
        prepare(src, tmp_path / "c", label_column="genre", **QUIET)

    # Two ClassLabel columns and none called `label`: ask, do not guess.
    ambiguous = tmp_path / "ambiguous"
    generic_dataset(datasets, n_per_class=1, extra_label=True).rename_column(
        "label", "genre").save_to_disk(str(ambiguous))
    with pytest.raises(DataSourceError, match="--label-column"):
        prepare(ambiguous, tmp_path / "d", **QUIET)
    prepare(ambiguous, tmp_path / "d", split="all", label_column="genre", n_jobs=1, **QUIET)
    assert list(read_annotations(tmp_path / "d" / "all")["genre"]) == GENRES


def test_dataset_without_audio_column_is_refused(tmp_path):
    datasets = pytest.importorskip("datasets")
    src = tmp_path / "no_audio"
    datasets.Dataset.from_dict({"text": ["a"], "label": [0]}).save_to_disk(str(src))
    with pytest.raises(DataSourceError, match="no Audio column"):
        prepare(src, tmp_path / "out", **QUIET)


def test_hub_id_goes_through_load_dataset(monkeypatch, tmp_path):
    datasets = pytest.importorskip("datasets")
    calls = []

    def fake_load_dataset(path, **kwargs):
        calls.append((path, kwargs))
        return datasets.DatasetDict({"train": generic_dataset(datasets, n_per_class=1),
                                     "test": generic_dataset(datasets, n_per_class=1)})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    out = tmp_path / "out"
    report = prepare("someone/tiny-genres", out, revision="v1", n_jobs=1, **QUIET)
    assert [(path, kw.get("revision"), kw.get("trust_remote_code", False))
            for path, kw in calls] == [("someone/tiny-genres", "v1", False)]
    assert report.written == {"train": 3, "test": 3}  # the dataset's own splits
    assert list(read_annotations(out / "test")["source"]) == [
        f"someone/tiny-genres:test:{i}" for i in range(3)]


def test_dataset_folder_of_parquet_files(monkeypatch, tmp_path):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    src = tmp_path / "parquet_genres"
    (src / "data").mkdir(parents=True)
    generic_dataset(datasets, n_per_class=2).to_parquet(
        str(src / "data" / "train-00000-of-00001.parquet"))
    out = tmp_path / "out"
    report = prepare(src, out, splits="train=0.5,test=0.5", n_jobs=1, **QUIET)
    assert report.written == {"train": 3, "test": 3}
    assert sorted(read_annotations(out / "test")["label"]) == sorted(GENRES)


# ---------------------------------------------------------------------------------------------
# Skipped inputs


def mixed_folder(root: Path) -> Path:
    """Good clips plus a corrupt mp3, an empty file and a text file."""
    write_folder(root, {"pop": [300, 400], "rock": [500, 600]})
    (root / "pop" / "broken.mp3").write_bytes(b"ID3" + np.random.default_rng(2).bytes(6000))
    (root / "rock" / "empty.wav").write_bytes(b"")
    (root / "rock" / "liner_notes.txt").write_text("Recorded live in 1971.\n")
    return root


BAD = {"pop/broken.mp3": "cannot decode", "rock/empty.wav": "empty",
       "rock/liner_notes.txt": "cannot decode"}


def test_bad_files_are_skipped_and_reported(tmp_path):
    src = mixed_folder(tmp_path / "src")
    out = tmp_path / "out"
    logged = []
    report = prepare(src, out, split="train", n_jobs=2, progress=False, log=logged.append)
    assert report.written == {"train": 4}
    assert {s: r for s, r in report.skipped["train"]}.keys() == BAD.keys()

    skipped = pd.read_csv(out / "train" / "skipped.csv")
    assert list(skipped.columns) == ["source", "reason"]
    assert sorted(skipped["source"]) == sorted(BAD)
    for row in skipped.itertuples():
        assert BAD[row.source] in row.reason and row.source.split("/")[1] in row.reason
    assert sorted(read_skipped(out)["source"]) == sorted(BAD)
    assert all(any(name in line for line in logged) for name in BAD)

    ann = read_annotations(out / "train")
    assert list(ann["source"]) == ["pop/clip_0.wav", "pop/clip_1.wav", "rock/clip_0.wav",
                                   "rock/clip_1.wav"]
    wavs = sorted(p.name for p in (out / "train" / "audios").iterdir())
    # Sorted by path: broken.mp3 is item 0, empty.wav and liner_notes.txt items 5 and 6.
    assert wavs == [f"audio_train_{i}.wav" for i in (1, 2, 3, 4)]
    assert sorted(Path(a).name for a in ann["audio_file"]) == wavs
    assert all(wav_is_clip(out / a) for a in ann["audio_file"])

    # Once the bad files are gone, the old report is cleared rather than left stale.
    for name in BAD:
        (src / name).unlink()
    report = prepare(src, out, split="train", n_jobs=1, **QUIET)
    assert report.skipped["train"] == []
    assert len(pd.read_csv(out / "train" / "skipped.csv")) == 0
    assert len(read_skipped(out)) == 0


def test_cli_prepare_with_bad_files_exits_0_without_traceback(tmp_path, capsys):
    from bag_of_songs.cli import main

    src = mixed_folder(tmp_path / "src")
    out = tmp_path / "out"
    assert main(["prepare", str(src), "--out", str(out), "--quiet", "--n-jobs", "1"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    for name in BAD:
        assert f"skipped {name}" in captured.err
    # No error line (libmpg123's own messages come prefixed: "decoder: <file>: ...").
    assert not [ln for ln in captured.err.splitlines() if ln.startswith("error:")]
    assert sum(len(df) for df in listed_files(out).values()) == 4
    assert sorted(read_skipped(out)["source"]) == sorted(BAD)


def test_cli_prepare_with_nothing_decodable_fails_with_one_error_line(tmp_path, capsys):
    from bag_of_songs.cli import main

    src = tmp_path / "src"
    (src / "rock").mkdir(parents=True)
    (src / "rock" / "empty.mp3").write_bytes(b"")
    (src / "rock" / "notes.txt").write_text("nothing here\n")
    status = main(["prepare", str(src), "--out", str(tmp_path / "out"), "--quiet",
                   "--n-jobs", "1", "--split", "train"])
    assert status != 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    errors = [ln for ln in captured.err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "no clip could be prepared" in errors[0]
    assert captured.out == ""
    assert sorted(read_skipped(tmp_path / "out")["source"]) == ["rock/empty.mp3",
                                                                "rock/notes.txt"]


# ---------------------------------------------------------------------------------------------
# Resume and idempotence


def test_interrupted_run_lists_only_complete_clips_and_resumes(tmp_path, monkeypatch):
    src = write_folder(tmp_path / "src", {"pop": [300, 350, 400], "rock": [500, 550, 600]})
    out = tmp_path / "out"
    real_decode = decode._decode_item
    calls = []

    def interrupted_after_three(item):  # n_jobs=1 decodes in this process
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(item.source)
        return real_decode(item)

    monkeypatch.setattr(decode, "_decode_item", interrupted_after_three)
    with pytest.raises(KeyboardInterrupt):
        prepare(src, out, split="train", n_jobs=1, **QUIET)
    monkeypatch.setattr(decode, "_decode_item", real_decode)

    ann = read_annotations(out / "train")
    assert list(ann["audio_file"]) == [f"train/audios/audio_train_{i}.wav" for i in range(3)]
    assert all(wav_is_clip(out / a) for a in ann["audio_file"])
    assert sorted(p.name for p in (out / "train" / "audios").iterdir()) == [
        f"audio_train_{i}.wav" for i in range(3)]
    # A run killed mid-write leaves temporary files; they are never listed, and are cleaned.
    stray = out / "train" / "audios" / ".audio_train_3.wav.k1ll3d.wav.tmp"
    stray.write_bytes(b"RIFF half a clip")
    strays = [out / ".prepare.json.x1y2.json.tmp", out / "train" / ".annotations.csv.q.csv.tmp",
              out / "train" / ".warnings.csv.w.csv.tmp"]
    for p in strays:
        p.write_text("half")
    (out / "train" / ".my_hidden.tmp").write_text("not ours")

    report = prepare(src, out, split="train", n_jobs=1, **QUIET)
    assert report.reused == {"train": 3} and report.written == {"train": 6}
    assert not stray.exists() and not any(p.exists() for p in strays)
    assert (out / "train" / ".my_hidden.tmp").read_text() == "not ours"

    (out / "train" / ".my_hidden.tmp").unlink()
    fresh = tmp_path / "fresh"
    prepare(src, fresh, split="train", n_jobs=1, **QUIET)
    assert snapshot(out / "train").keys() == snapshot(fresh / "train").keys()
    for name, (_, _, content) in snapshot(fresh / "train").items():
        assert (out / "train" / name).read_bytes() == content, name


def test_resume_rewrites_missing_truncated_and_unlisted_clips(tmp_path):
    src = write_folder(tmp_path / "src", {"pop": [300, 350, 400], "rock": [500, 550, 600]})
    out = tmp_path / "out"
    prepare(src, out, split="train", n_jobs=1, **QUIET)
    ann_path = out / "train" / "annotations.csv"
    original = ann_path.read_bytes()
    audios = out / "train" / "audios"
    (audios / "audio_train_1.wav").unlink()  # listed, but gone
    wav2 = (audios / "audio_train_2.wav").read_bytes()
    (audios / "audio_train_2.wav").write_bytes(wav2[: len(wav2) // 2])  # listed, half written
    ann = pd.read_csv(ann_path)
    ann.drop(index=4).to_csv(ann_path, index=False)  # complete, but not listed
    kept = {i: (audios / f"audio_train_{i}.wav").stat().st_mtime_ns for i in (0, 3, 5)}

    report = prepare(src, out, split="train", n_jobs=1, **QUIET)
    assert report.reused == {"train": 3} and report.written == {"train": 6}
    assert ann_path.read_bytes() == original
    assert (audios / "audio_train_2.wav").read_bytes() == wav2
    assert all(wav_is_clip(audios / f"audio_train_{i}.wav") for i in range(6))
    for i, mtime in kept.items():  # the complete clips were not rewritten
        assert (audios / f"audio_train_{i}.wav").stat().st_mtime_ns == mtime


def test_rerun_is_idempotent_and_touches_nothing_outside_out(tmp_path):
    src = write_folder(tmp_path / "src", {"classical": [220, 260, 300, 340, 380],
                                          "rock": [440, 480, 520, 560, 600]})
    (tmp_path / "beside.txt").write_text("not yours")
    out = tmp_path / "out"
    outside = snapshot(tmp_path, exclude=out)

    first = prepare(src, out, n_jobs=2, seed=7, **QUIET)
    # The user's own files beside the prepared ones (prepare refuses a non-empty folder
    # without prepare.json, so they come after the first run) are left alone.
    (out / "notes.txt").write_text("my notes")
    (out / "train" / "my_list.txt").write_text("keep me")
    files_1 = snapshot(out)
    second = prepare(src, out, n_jobs=2, seed=7, **QUIET)
    files_2 = snapshot(out)

    assert first.written == second.written and sum(first.written.values()) == 10
    assert first.reused == dict.fromkeys(first.written, 0)
    assert second.reused == second.written  # every clip kept as it was
    assert files_1.keys() == files_2.keys()
    for name in files_1:
        assert files_1[name][2] == files_2[name][2], name
        if name.endswith(".wav"):
            assert files_1[name][1] == files_2[name][1], name  # not even rewritten
    everything = pd.concat(listed_files(out).values())
    assert everything["audio_file"].is_unique and everything["source"].is_unique
    n_wavs = sum(1 for p in out.rglob("*.wav"))
    assert n_wavs == len(everything) == 10
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert (out / "notes.txt").read_text() == "my notes"
    assert (out / "train" / "my_list.txt").read_text() == "keep me"
    assert snapshot(tmp_path, exclude=out) == outside


# ---------------------------------------------------------------------------------------------
# Splits


def test_parse_splits():
    assert parse_splits(None) == {"train": 0.8, "validation": 0.1, "test": 0.1}
    got = parse_splits("train=0.8,validation=0.1,test=0.1")
    assert list(got) == ["train", "validation", "test"]
    assert got == pytest.approx({"train": 0.8, "validation": 0.1, "test": 0.1})
    assert parse_splits("train=8,test=2") == pytest.approx({"train": 0.8, "test": 0.2})
    assert parse_splits(" train = 0.5 , test=0.5 ,") == {"train": 0.5, "test": 0.5}
    assert parse_splits({"a": 1, "b": 3}) == {"a": 0.25, "b": 0.75}
    assert parse_splits("test=1") == {"test": 1.0}


@pytest.mark.parametrize("spec", [
    "", "train", "train=abc", "train=-0.1,test=1", "train=0,test=0", "=1", "a/b=1",
    ".hidden=1", "train=nan", "train=inf,test=1", "train=0.5,train=0.5", {"train": -1},
    {"train": float("nan"), "test": 1.0},
])
def test_parse_splits_refuses_bad_specs(spec):
    with pytest.raises(ValueError):
        parse_splits(spec)


def test_split_items_is_stratified_and_complete():
    labels = ["a"] * 10 + ["b"] * 20 + ["c"] * 30
    got = split_items(labels, parse_splits(None), seed=0)
    assert sorted(i for idx in got.values() for i in idx) == list(range(60))
    assert all(idx == sorted(idx) for idx in got.values())
    counts = {s: pd.Series([labels[i] for i in idx]).value_counts().to_dict()
              for s, idx in got.items()}
    assert counts == {"train": {"a": 8, "b": 16, "c": 24}, "validation": {"a": 1, "b": 2, "c": 3},
                      "test": {"a": 1, "b": 2, "c": 3}}


def test_split_items_is_seeded():
    labels = [str(i % 3) for i in range(30)]
    fr = {"train": 0.5, "test": 0.5}
    assert split_items(labels, fr, seed=1) == split_items(labels, fr, seed=1)
    assert split_items(labels, fr, seed=1) != split_items(labels, fr, seed=2)


def test_split_items_spreads_small_classes():
    # Four singleton classes over two equal splits: two each, not all four in one.
    got = split_items(["a", "b", "c", "d"], {"train": 0.5, "test": 0.5}, seed=0)
    assert len(got["train"]) == len(got["test"]) == 2
    # A zero fraction gets nothing; every item lands once.
    got = split_items(["a"] * 5 + ["b"] * 3, {"train": 1.0, "test": 0.0}, seed=0)
    assert got == {"train": list(range(8)), "test": []}


def test_prepare_splits_follow_the_seed(tmp_path):
    src = write_folder(tmp_path / "src", {"pop": [300, 350, 400, 450], "rock": [500, 550]},
                       seconds=0.05)
    a = prepare(src, tmp_path / "a", splits="train=0.5,test=0.5", seed=1, n_jobs=1, **QUIET)
    assert a.written == {"train": 3, "test": 3}
    labels = [f"{g}" for g in ("pop",) * 4 + ("rock",) * 2]
    expected = split_items(labels, {"train": 0.5, "test": 0.5}, seed=1)
    sources = sorted(str(p.relative_to(src)) for p in src.rglob("*.wav"))
    for split, idx in expected.items():
        got = list(read_annotations(tmp_path / "a" / split)["source"])
        assert got == [sources[i] for i in idx]
    assert os.path.isdir(tmp_path / "a" / "train" / "audios")


def test_small_demo_stratifies_on_a_coarser_level_so_every_split_has_both_first_level_classes(
        tmp_path):
    from bag_of_songs.data import prepare, read_annotations

    prepare("demo", tmp_path / "out", demo_size=5, n_jobs=1, progress=False, log=lambda m: None)
    for split in ("train", "validation", "test"):
        ann = read_annotations(tmp_path / "out" / split)
        assert set(ann["fst_level_label"]) == {"Classic", "Non_classic"}, split


def test_stratify_column_prefers_the_finest_level_with_large_enough_classes():
    from bag_of_songs.data.splits import _stratify_column

    fractions = {"train": 0.8, "validation": 0.1, "test": 0.1}
    big = [{"fst_level_label": f, "thr_level_label": f"{f}{i % 2}"}
           for f in ("A", "B") for i in range(20)]
    assert _stratify_column(big, fractions) == "thr_level_label"
    small = big[:6] + big[20:26]
    assert _stratify_column(small, fractions) == "fst_level_label"


# ---------------------------------------------------------------------------------------------
# Splits that keep groups (artists) whole


def test_split_groups_keeps_each_group_in_one_split_and_is_stratified():
    from bag_of_songs.data import split_groups

    labels = ["a"] * 40 + ["b"] * 40
    groups = [f"a{i // 4}" for i in range(40)] + [f"b{i // 2}" for i in range(40)]
    fractions = {"train": 0.8, "validation": 0.1, "test": 0.1}
    out = split_groups(labels, groups, fractions, seed=3)
    assert sorted(i for v in out.values() for i in v) == list(range(80))
    where = {}
    for split, idx in out.items():
        for i in idx:
            assert where.setdefault(groups[i], split) == split  # a group never spans splits
    for lab in ("a", "b"):
        n = {k: sum(labels[i] == lab for i in v) for k, v in out.items()}
        assert n["train"] == 32 and n["validation"] == 4 and n["test"] == 4, n
    assert split_groups(labels, groups, fractions, seed=3) == out
    assert split_groups(labels, groups, fractions, seed=4) != out


def test_prepare_folder_grouped_by_artist_from_the_manifest(emotify_dir, tmp_path):
    import pandas as pd

    from bag_of_songs.data import prepare, read_annotations

    out = tmp_path / "out"
    prepare(emotify_dir, out, group_column="artist", n_jobs=2, **QUIET)
    manifest = pd.read_csv(emotify_dir / "manifest.csv", dtype=str)
    artist = dict(zip(manifest["path"], manifest["artist"], strict=True))
    seen = {}
    for split in ("train", "validation", "test"):
        ann = read_annotations(out / split)
        assert len(ann) > 0 and set(ann["fst_level_label"]) == {"Classic", "Non_classic"}
        for src in ann["source"]:
            assert seen.setdefault(artist[src], split) == split, artist[src]
    # The default manifest (ROOT/manifest.csv) is recorded, so the groups are found later.
    from bag_of_songs.models import read_clip_groups

    groups = read_clip_groups(out, "artist")
    assert len(groups) == 120
    ann = read_annotations(out / "test")
    assert groups[ann["audio_file"].iloc[0]] == artist[ann["source"].iloc[0]]


def test_group_column_needs_a_folder_source_and_a_manifest(tmp_path):
    from bag_of_songs.data import DataSourceError, prepare

    with pytest.raises(DataSourceError, match="folder sources"):
        prepare("demo", tmp_path / "o", demo_size=2, group_column="artist", **QUIET)
    root = write_folder(tmp_path / "music", {"rock": [200, 300], "pop": [400, 500]})
    with pytest.raises(DataSourceError, match="manifest"):
        prepare(root, tmp_path / "o2", group_column="artist", n_jobs=1, **QUIET)


# ---------------------------------------------------------------------------------------------
# Hardening (issue 11): paths in annotations, re-runs, the folder lock, source stamps, --out
# inside the source, suspicious clips, absurd headers, channels-first arrays, mistyped paths


def write_annotations(split_dir: Path, audio_files: list[str]) -> None:
    split_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"audio_file": audio_files, "label": ["rock"] * len(audio_files),
                  "source": [f"s{i}" for i in range(len(audio_files))]}).to_csv(
        split_dir / "annotations.csv", index=False)


@pytest.mark.parametrize(("bad", "reason"), [
    ("/etc/passwd", "absolute"),
    ("../../secret.wav", "'..'"),
    ("train/../../secret.wav", "'..'"),
    ("train\\..\\..\\secret.wav", "backslash"),
    ("C:/Windows/win.ini", "absolute"),
    ("~/music/x.wav", "absolute"),
    ("", "empty"),
])
def test_annotations_pointing_outside_the_folder_are_refused_naming_the_row(tmp_path, bad,
                                                                             reason):
    from bag_of_songs.data import resolve_audio_file

    data = tmp_path / "data"
    write_annotations(data / "train", ["train/audios/audio_train_0.wav", bad])
    with pytest.raises(ValueError) as err:
        read_annotations(data / "train")
    msg = str(err.value)
    assert "annotations.csv, row 2 (line 3)" in msg and reason in msg
    assert "inside" in msg
    with pytest.raises(ValueError, match=reason.strip("'")):
        resolve_audio_file(data, bad)
    assert resolve_audio_file(data, "train/audios/audio_train_0.wav") == (
        data / "train" / "audios" / "audio_train_0.wav")


def test_annotations_through_a_symlink_out_of_the_folder_are_refused(tmp_path):
    from bag_of_songs.data import resolve_audio_file

    data = tmp_path / "data"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.wav").write_bytes(b"not yours")
    (data / "train").mkdir(parents=True)
    (data / "train" / "audios").symlink_to(tmp_path / "elsewhere")
    write_annotations(data / "train", ["train/audios/x.wav"])
    with pytest.raises(ValueError, match="symbolic link"):
        read_annotations(data / "train")
    with pytest.raises(ValueError, match="symbolic link"):
        resolve_audio_file(data, "train/audios/x.wav")


def test_non_label_columns_include_the_stamp_and_segment():
    from bag_of_songs.data import NON_LABEL_COLUMNS, label_columns

    assert {"audio_file", "source", "source_stamp", "segment"} <= set(NON_LABEL_COLUMNS)
    df = pd.DataFrame({"audio_file": ["a"], "segment": ["0"], "label": ["rock"],
                       "mood": ["calm"], "source": ["x"], "source_stamp": ["size=1"]})
    assert label_columns(df) == ["label", "mood"]


def fake_features(split_dir: Path) -> None:
    """What `features` writes in a split (stand-ins), plus a file of the user's own."""
    for name in ("features.csv", "features.json", "features_skipped.csv"):
        (split_dir / name).write_text("stale\n")
    (split_dir / "cache").mkdir()
    (split_dir / "cache" / "seg.npy").write_bytes(b"x")
    (split_dir / "my_notes.txt").write_text("mine")


def test_changed_annotations_remove_the_derived_files_and_say_so(tmp_path):
    src = write_folder(tmp_path / "src", {"classical": [220, 260, 300, 340], "rock": [440, 480,
                                                                                     520, 560]})
    out = tmp_path / "out"
    prepare(src, out, splits="train=0.5,test=0.5", seed=1, n_jobs=1, **QUIET)
    for split in ("train", "test"):
        fake_features(out / split)
    # The same command again: the annotations do not change, the feature tables stay.
    again = prepare(src, out, splits="train=0.5,test=0.5", seed=1, n_jobs=1, **QUIET)
    assert again.removed == []
    assert (out / "train" / "features.csv").exists() and (out / "test" / "cache").exists()

    logged = []
    report = prepare(src, out, splits="train=0.5,test=0.5", seed=2, n_jobs=1, progress=False,
                     log=logged.append)
    for split in ("train", "test"):
        assert not any((out / split / n).exists() for n in
                       ("features.csv", "features.json", "features_skipped.csv", "cache"))
        assert (out / split / "my_notes.txt").read_text() == "mine"
    removed = {split: names for split, _, names in report.removed}
    assert removed["train"] == ["features.csv", "features.json", "features_skipped.csv",
                                "cache/"]
    assert any(line.startswith("train: removed features.csv") for line in logged)
    assert "train: removed features.csv, features.json, features_skipped.csv, cache/" in (
        report.summary())


def test_splits_an_earlier_run_left_are_removed_with_only_their_project_files(tmp_path):
    src = write_folder(tmp_path / "src", {"classical": [220, 260, 300, 340, 380],
                                          "rock": [440, 480, 520, 560, 600]})
    out = tmp_path / "out"
    prepare(src, out, seed=3, n_jobs=1, **QUIET)  # train / validation / test
    assert list_splits(out) == ["train", "validation", "test"]
    fake_features(out / "test")
    (out / "test" / "warnings.csv").write_text("audio_file,source,warning\n")
    (out / "test" / "skipped.csv").write_text("source,reason\n")
    (out / "test" / "audios" / "my_take.wav").write_bytes(b"mine")

    logged = []
    report = prepare(src, out, splits="train=0.5,validation=0.5", seed=3, n_jobs=1,
                     progress=False, log=logged.append)
    assert list_splits(out) == ["train", "validation"]
    left = sorted(str(p.relative_to(out / "test")) for p in (out / "test").rglob("*"))
    assert left == ["audios", "audios/my_take.wav", "my_notes.txt"]  # the user's files only
    (test_removed,) = [names for split, _, names in report.removed if split == "test"]
    assert "annotations.csv" in test_removed and "features.csv" in test_removed
    assert any(n.endswith("(audios/audio_test_*.wav)") for n in test_removed)
    assert any(line.startswith("test: removed") for line in logged)
    assert "test: removed" in report.summary()
    record = json.loads((out / "prepare.json").read_text())
    assert sorted(record["splits"]) == ["train", "validation"]

    # --split NAME leaves the other splits alone.
    prepare(src, out, split="extra", n_jobs=1, **QUIET)
    assert list_splits(out) == ["train", "validation", "extra"]


def test_clips_no_longer_listed_are_removed(tmp_path):
    src = write_folder(tmp_path / "src", {"pop": [300, 350, 400], "rock": [500, 550]})
    out = tmp_path / "out"
    prepare(src, out, split="train", n_jobs=1, **QUIET)
    (src / "rock" / "clip_1.wav").unlink()
    report = prepare(src, out, split="train", n_jobs=1, **QUIET)
    assert sorted(p.name for p in (out / "train" / "audios").iterdir()) == [
        f"audio_train_{i}.wav" for i in range(4)]
    assert report.removed == [("train", "an earlier run wrote them; this one does not list them",
                               ["1 clip no longer listed"])]


def test_prepare_json_records_the_run(tmp_path, emotify_dir):
    out = tmp_path / "out"
    prepare(emotify_dir, out, splits="train=0.8,test=0.2", group_column="artist", seed=4,
            n_jobs=2, **QUIET)
    record = json.loads((out / "prepare.json").read_text())
    from bag_of_songs import __version__

    assert record["library_version"] == __version__
    assert sorted(record["splits"]) == ["test", "train"]
    run = record["splits"]["train"]
    assert run["source"] == str(emotify_dir) and run["source_path"] == str(emotify_dir)
    assert run["seed"] == 4 and run["group_column"] == "artist"
    assert run["splits"] == {"train": 0.8, "test": 0.2}
    assert not list(out.glob(".*.tmp"))
    # Deterministic: the same command writes the same record (no time stamps).
    before = (out / "prepare.json").read_bytes()
    prepare(emotify_dir, out, splits="train=0.8,test=0.2", group_column="artist", seed=4,
            n_jobs=2, **QUIET)
    assert (out / "prepare.json").read_bytes() == before


def test_summary_says_what_was_kept_and_written(tmp_path):
    src = write_folder(tmp_path / "src", {"pop": [300, 400], "rock": [500, 600]})
    out = tmp_path / "out"
    first = prepare(src, out, split="train", n_jobs=1, **QUIET)
    assert first.summary().startswith("train: 4 clips (0 kept as they were, 4 written), "
                                      "0 skipped, 4 with warnings")
    (out / "train" / "audios" / "audio_train_2.wav").unlink()
    second = prepare(src, out, split="train", n_jobs=1, **QUIET)
    assert second.summary().startswith("train: 4 clips (3 kept as they were, 1 written)")


def _hold_lock(path: Path, what: str = "features"):
    import subprocess
    import sys

    code = ("import time\nfrom bag_of_songs.files import lock_folder\n"
            f"with lock_folder({str(path)!r}, what={what!r}):\n"
            "    print('locked', flush=True)\n    time.sleep(120)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_run_into_a_locked_folder_refuses_at_once(tmp_path, capsys):
    import time

    from bag_of_songs.cli import main
    from bag_of_songs.data import FolderLockedError, lock_folder

    src = write_folder(tmp_path / "src", {"pop": [300], "rock": [500]})
    out = tmp_path / "out"
    out.mkdir()
    holder = _hold_lock(out)
    try:
        t0 = time.monotonic()
        with pytest.raises(FolderLockedError, match=rf"in use by another run \(features, pid "
                                                    rf"{holder.pid}\)"):
            prepare(src, out, split="train", n_jobs=1, **QUIET)
        assert time.monotonic() - t0 < 5  # at once, before any decoding
        assert not (out / "train").exists()
        assert main(["prepare", str(src), "--out", str(out), "--quiet", "--split", "x"]) == 2
        err = capsys.readouterr().err
        assert "error:" in err and "in use by another run" in err and "Traceback" not in err
        with pytest.raises(FolderLockedError), lock_folder(out, what="features"):
            pass
    finally:
        holder.kill()  # kill -9: the system releases the lock with the process
        holder.wait()
    report = prepare(src, out, split="train", n_jobs=1, **QUIET)
    assert report.written == {"train": 2}
    with lock_folder(out), lock_folder(out, what="nested"):  # nested use in one process
        pass


def test_lock_folder_refuses_a_file(tmp_path):
    from bag_of_songs.data import FolderLockedError, lock_folder

    (tmp_path / "f").write_text("x")
    with pytest.raises(FolderLockedError, match="not a folder"), lock_folder(tmp_path / "f"):
        pass
    with pytest.raises(DataSourceError, match="is a file"):
        prepare("demo", tmp_path / "f", demo_size=1, **QUIET)


def test_a_replaced_source_file_is_prepared_again(tmp_path):
    src = write_folder(tmp_path / "src", {"pop": [300, 400], "rock": [500, 600]})
    out = tmp_path / "out"
    prepare(src, out, split="train", n_jobs=1, **QUIET)
    ann = read_annotations(out / "train")
    st = (src / "rock" / "clip_0.wav").stat()
    assert ann["source_stamp"].iloc[2] == f"size={st.st_size};mtime_ns={st.st_mtime_ns}"
    audios = out / "train" / "audios"
    mtimes = {i: (audios / f"audio_train_{i}.wav").stat().st_mtime_ns for i in range(4)}
    # Another song under the same name, of the same size (a resume by name and length alone
    # would keep the old clip).
    sf.write(src / "rock" / "clip_0.wav", tone(900, 0.3, 16000), 16000)
    os.utime(src / "rock" / "clip_0.wav", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert (src / "rock" / "clip_0.wav").stat().st_size == st.st_size
    report = prepare(src, out, split="train", n_jobs=1, **QUIET)
    assert report.reused == {"train": 3}
    y, _ = sf.read(audios / "audio_train_2.wav", dtype="float32")
    assert abs(peak_hz(y[: int(0.3 * SR)], SR) - 900) < 10
    for i in (0, 1, 3):
        assert (audios / f"audio_train_{i}.wav").stat().st_mtime_ns == mtimes[i]


def test_clips_without_a_recorded_stamp_or_of_another_demo_version_are_redone(tmp_path,
                                                                               monkeypatch):
    from bag_of_songs.data.sources import demo

    out = tmp_path / "out"
    prepare("demo", out, demo_size=1, split="train", n_jobs=1, **QUIET)
    ann = read_annotations(out / "train")
    assert list(ann["source_stamp"]) == [f"{s}:v{demo.DEMO_VERSION}" for s in ann["source"]]
    assert prepare("demo", out, demo_size=1, split="train", n_jobs=1, **QUIET).reused == {
        "train": 4}
    monkeypatch.setattr(demo, "DEMO_VERSION", demo.DEMO_VERSION + 1)
    assert prepare("demo", out, demo_size=1, split="train", n_jobs=1, **QUIET).reused == {
        "train": 0}
    # An annotations table of an older version, without stamps: nothing can be verified.
    ann = pd.read_csv(out / "train" / "annotations.csv")
    ann.drop(columns="source_stamp").to_csv(out / "train" / "annotations.csv", index=False)
    assert prepare("demo", out, demo_size=1, split="train", n_jobs=1, **QUIET).reused == {
        "train": 0}


def test_a_changed_dataset_is_prepared_again(tmp_path):
    datasets = pytest.importorskip("datasets")
    src = tmp_path / "ds"
    datasets.DatasetDict({"train": generic_dataset(datasets, n_per_class=1)}).save_to_disk(
        str(src))
    out = tmp_path / "out"
    prepare(src, out, split="train", n_jobs=1, **QUIET)
    assert read_annotations(out / "train")["source_stamp"].str.match(r"hf:\w+:\d$").all()
    assert prepare(src, out, split="train", n_jobs=1, **QUIET).reused == {"train": 3}
    shutil.rmtree(src)
    ds = generic_dataset(datasets, n_per_class=1)
    ds = ds.cast_column("audio", datasets.Audio()).map(
        lambda row, i: {"audio": _audio(1000 + 100 * i, 16000, 0.2)}, with_indices=True)
    datasets.DatasetDict({"train": ds}).save_to_disk(str(src))
    assert prepare(src, out, split="train", n_jobs=1, **QUIET).reused == {"train": 0}
    y, _ = sf.read(out / "train" / "audios" / "audio_train_0.wav", dtype="float32")
    assert abs(peak_hz(y[: int(0.2 * SR)], SR) - 1000) < 10


def test_out_inside_the_source_folder_is_refused(tmp_path):
    src = write_folder(tmp_path / "music", {"rock": [440, 550], "pop": [330]})
    (tmp_path / "alias").symlink_to(src)
    for out in (src, src / "prepared", src / "rock" / "deeper", tmp_path / "alias" / "p"):
        with pytest.raises(DataSourceError, match="inside the source folder"):
            prepare(src, out, split="train", n_jobs=1, **QUIET)
    assert not (src / "prepared").exists() and not (src / "rock" / "deeper").exists()
    assert sorted(str(p.relative_to(src)) for p in src.rglob("*")) == [
        "pop", "pop/clip_0.wav", "rock", "rock/clip_0.wav", "rock/clip_1.wav"]
    prepare(src, tmp_path / "music_prepared", split="train", n_jobs=1, **QUIET)  # beside: fine


@pytest.mark.parametrize("src", ["./no-such-music", "~/no-such-music-7c1", "../no/such",
                                 "a/b/c", "/no/such/music", "music/"])
def test_a_missing_folder_fails_at_once_without_the_hub(tmp_path, monkeypatch, src):
    datasets = pytest.importorskip("datasets")

    def no_hub(*args, **kwargs):
        raise AssertionError("a path must not be looked up on the hub")

    monkeypatch.setattr(datasets, "load_dataset", no_hub)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataSourceError, match="no such folder"):
        prepare(src, tmp_path / "out", **QUIET)
    assert not (tmp_path / "out").exists()


def test_a_hub_id_shape_still_goes_to_the_hub_and_hints_at_a_folder(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")

    def offline(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataSourceError, match="no folder 'someone/genres' here"):
        prepare("someone/genres", tmp_path / "out", **QUIET)


def test_label_column_names_the_genre_column_of_a_folder(tmp_path):
    src = write_folder(tmp_path / "src", {"classical": [220], "rock": [440]})
    prepare(src, tmp_path / "o", split="all", label_column="genre", n_jobs=1, **QUIET)
    df = read_annotations(tmp_path / "o" / "all")
    assert list(df.columns) == ["audio_file", "genre", "fst_level_label", "source",
                                "source_stamp"]
    assert list(df["genre"]) == ["classical", "rock"]
    for reserved in ("fst_level_label", "source"):
        with pytest.raises(DataSourceError, match="reserved"):
            prepare(src, tmp_path / "o2", label_column=reserved, **QUIET)


def test_label_column_keeps_one_level_of_the_demo(tmp_path):
    prepare("demo", tmp_path / "o", demo_size=1, split="all", label_column="sec_level_label",
            n_jobs=1, **QUIET)
    df = read_annotations(tmp_path / "o" / "all")
    assert list(df.columns) == ["audio_file", "sec_level_label", "source", "source_stamp"]
    with pytest.raises(DataSourceError, match="no label column 'genre'"):
        prepare("demo", tmp_path / "o", demo_size=1, label_column="genre", **QUIET)


def test_mostly_padding_and_silent_clips_are_warned_about_and_listed(tmp_path, emotify_clips):
    src = tmp_path / "src"
    (src / "rock").mkdir(parents=True)
    (src / "rock" / "cut.mp3").write_bytes(emotify_clips[6].read_bytes()[:3000])  # 0.14 s
    sf.write(src / "rock" / "silent.wav", np.zeros(SR * 31, dtype=np.float32), SR)
    sf.write(src / "rock" / "whisper.wav", np.full(SR * 31, 3e-5, dtype=np.float32), SR,
             subtype="FLOAT")
    sf.write(src / "rock" / "fine.wav", tone(440, 31, SR), SR)
    out = tmp_path / "out"
    logged = []
    report = prepare(src, out, split="train", n_jobs=1, progress=False, log=logged.append)
    assert report.written == {"train": 4}  # kept: a short or quiet piece may be genuine
    warnings = pd.read_csv(out / "train" / "warnings.csv", dtype=str)
    assert list(warnings.columns) == ["audio_file", "source", "warning"]
    by_source = warnings.groupby("source")["warning"].apply(list).to_dict()
    assert sorted(by_source) == ["rock/cut.mp3", "rock/silent.wav", "rock/whisper.wav"]
    (cut,) = by_source["rock/cut.mp3"]
    assert cut.startswith("mostly padding: only 0.1") and "of the 30.00 s clip" in cut
    assert by_source["rock/silent.wav"] == ["silent: peak -inf dBFS, below the -60 dBFS floor"]
    assert by_source["rock/whisper.wav"] == ["silent: peak -90 dBFS, below the -60 dBFS floor"]
    assert any(line.startswith("warning: rock/cut.mp3: mostly padding") for line in logged)
    assert len(D.read_warnings(out)) == 3
    # Kept clips keep their warnings on resume; a fixed source clears its own.
    sf.write(src / "rock" / "silent.wav", tone(220, 31, SR), SR)
    prepare(src, out, split="train", n_jobs=1, **QUIET)
    again = pd.read_csv(out / "train" / "warnings.csv", dtype=str)
    assert sorted(again["source"]) == ["rock/cut.mp3", "rock/whisper.wav"]


def test_clip_warnings_known_answers():
    from bag_of_songs.data import clip_warnings

    loud = tone(440, 30, SR)
    assert clip_warnings(loud) == []
    assert clip_warnings(loud, n_real=SR * 15) == []  # half is real audio: fine
    (w,) = clip_warnings(loud, n_real=SR * 14)
    assert w == "mostly padding: only 14.00 s of the 30.00 s clip is audio, the rest is zero " \
                "padding"
    assert clip_warnings(loud * 1.01e-3 / 0.5) == []  # peak just above the -60 dBFS floor
    assert clip_warnings(loud * 0.9e-3 / 0.5)[0].startswith("silent: peak -61 dBFS")
    click = np.zeros(N_SAMPLES, dtype=np.float32)
    click[1000] = 0.01  # one click at -40 dBFS in 30 s of silence: RMS 0.01 / sqrt(661500)
    assert clip_warnings(click) == ["silent: RMS -98 dBFS, below the -80 dBFS floor"]


@pytest.mark.parametrize("rate", [1, 10, 999, 768_001, 2_000_000])
def test_an_absurd_sample_rate_in_the_header_is_refused(tmp_path, rate):
    import struct

    buf = io.BytesIO()
    sf.write(buf, tone(440, 0.5, SR), SR, format="WAV", subtype="PCM_16")
    data = bytearray(buf.getvalue())
    data[24:28] = struct.pack("<I", rate)
    path = tmp_path / "rock" / "odd.wav"
    path.parent.mkdir()
    path.write_bytes(bytes(data))
    with pytest.raises(AudioLoadError, match=rf"{rate:,} Hz is outside the plausible range "
                                             rf"1,000 .. 768,000 Hz"):
        load_audio(path)
    with pytest.raises(ValueError, match="plausible range"):
        to_clip(np.ones(100), rate)
    sf.write(tmp_path / "rock" / "fine.wav", tone(440, 0.5, SR), SR)
    report = prepare(tmp_path, tmp_path.parent / f"out{rate}", split="t", n_jobs=1, **QUIET)
    assert [s for s, _ in report.skipped["t"]] == ["rock/odd.wav"]
    assert "plausible range" in report.skipped["t"][0][1]


def test_to_clip_detects_channels_first_arrays(rng):
    x = rng.uniform(-0.5, 0.5, (2, 4000)).astype(np.float32)
    x[0] += 0.2
    y = to_clip(x, SR)  # torchaudio's and librosa's layout
    np.testing.assert_allclose(y[:4000], x.mean(axis=0), atol=1e-7)
    assert np.abs(y[:4000]).max() > 0.1  # not silence
    np.testing.assert_array_equal(to_clip(x.T, SR), y)  # soundfile's layout, same clip
    np.testing.assert_allclose(to_clip(rng.uniform(-1, 1, (8, 50)), SR)[:50].shape, (50,))
    for ambiguous in (np.ones((4, 6)), np.ones((8, 8))):
        with pytest.raises(ValueError, match="cannot tell the channel axis.*pass channel_axis"):
            to_clip(ambiguous, SR)
    np.testing.assert_allclose(to_clip(np.ones((4, 6)), SR, channel_axis=0)[:6], 1.0)
    with pytest.raises(ValueError, match="neither axis"):
        to_clip(np.ones((20, 30)), SR)


def test_decoder_messages_are_logged_with_the_file_name(tmp_path, emotify_clips, capfd):
    data = emotify_clips[6].read_bytes()
    src = tmp_path / "src"
    (src / "rock").mkdir(parents=True)
    (src / "rock" / "spliced.mp3").write_bytes(data[:1000] + data[5000:60000])
    logged = []
    prepare(src, tmp_path / "out", split="all", n_jobs=1, progress=False, log=logged.append)
    raw = capfd.readouterr().err
    assert "Illegal Audio-MPEG-Header" not in raw  # not printed bare, beside a progress bar
    assert any(line.startswith("decoder: rock/spliced.mp3: Note: Illegal Audio-MPEG-Header")
               for line in logged), logged
