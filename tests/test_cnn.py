"""Tests of ``bag_of_songs.cnn``: the log-mel front end and its disk cache, crops and crop
averaging, the CNN and hybrid networks, training (loss, early stopping, exact repeats), late
fusion, and one check on real clips (slow)."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from bag_of_songs import cnn
from bag_of_songs.cnn import (
    CNNError,
    HybridNet,
    SpectrogramCNN,
    architecture,
    build_from_architecture,
    cache_path,
    check_model_config,
    choose_fusion_weight,
    clip_indices,
    clip_log_mel,
    concat_clips,
    count_parameters,
    crop_starts,
    fit_normalizer,
    late_fusion_proba,
    log_mel_cache,
    model_config,
    normalize,
    predict_clip_proba,
    predict_crop_proba,
    predict_file_proba,
    resolve_device,
    settings_hash,
    spectrogram_settings,
    summarize,
    table_log_mels,
    take_clips,
    train_cnn,
)
from bag_of_songs.cnn import cache as cnn_cache
from bag_of_songs.data import load_audio
from bag_of_songs.features import log_mel_spectrogram

SR = 22050
#: 1 s clips with 16 mel bands: 44 frames each, so the cache tests run in milliseconds.
TINY = spectrogram_settings(n_mels=16, duration=1.0)
#: A small network for the training tests.
SMALL = {"channels": [8, 16], "blocks": ["conv", "res"], "dropout": 0.2}


def tone(freq: float, seconds: float = 1.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def make_split(root, freqs, *, split="train") -> list[str]:
    """A prepared split of 1 s tones (float WAVs) with annotations; returns the audio_file list."""
    audios = root / split / "audios"
    audios.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, f in enumerate(freqs):
        rel = f"{split}/audios/audio_{split}_{i}.wav"
        sf.write(root / rel, tone(f), SR, subtype="FLOAT")
        rows.append({"audio_file": rel, "label": "low" if f < 1000 else "high",
                     "source": f"tone_{f}"})
    pd.DataFrame(rows).to_csv(root / split / "annotations.csv", index=False)
    return [r["audio_file"] for r in rows]


@pytest.fixture
def counter(monkeypatch):
    """Counts the clips the cache computes (the per-clip function, run in this process)."""
    calls = []
    original = cnn_cache._log_mel_for_file

    def counted(path, settings):
        calls.append(path)
        return original(path, settings)

    monkeypatch.setattr(cnn_cache, "_log_mel_for_file", counted)
    return calls


def band_specs(rng, n_per_class: int, *, n_mels: int = 16, t: int = 64):
    """Separable spectrograms (dB): class 0 has its energy in the low bands, class 1 in the high
    ones, over noise; returned with their labels, shuffled."""
    specs, y = [], []
    for k in (0, 1):
        for _ in range(n_per_class):
            s = rng.normal(-60.0, 4.0, size=(n_mels, t))
            bands = slice(0, n_mels // 3) if k == 0 else slice(n_mels - n_mels // 3, n_mels)
            s[bands] += 30.0
            specs.append(s)
            y.append(k)
    order = rng.permutation(len(y))
    return np.asarray(specs, dtype=np.float16)[order], np.asarray(y)[order]


# ---------------------------------------------------------------------------------------------
# Front end and settings


def test_settings_defaults_hash_and_errors():
    s = spectrogram_settings()
    assert {k: s[k] for k in ("sr", "n_fft", "hop_length", "n_mels", "top_db", "duration")} == {
        "sr": 22050, "n_fft": 2048, "hop_length": 512, "n_mels": 96, "top_db": 80.0,
        "duration": 30.0}
    assert cnn.n_frames(s) == 1292
    assert spectrogram_settings(**s) == s  # a stored dict round-trips
    assert settings_hash(s) == settings_hash(dict(s)) and len(settings_hash(s)) == 12
    assert settings_hash(spectrogram_settings(n_mels=128)) != settings_hash(s)
    with pytest.raises(CNNError, match="unknown spectrogram setting"):
        spectrogram_settings(n_mel=96)
    with pytest.raises(CNNError, match="n_mels"):
        spectrogram_settings(n_mels=0)
    with pytest.raises(CNNError, match="front end"):
        spectrogram_settings(frontend="something_else/9")


def test_clip_log_mel_is_the_features_front_end(rng):
    y = (0.1 * rng.standard_normal(SR * 3)).astype(np.float32)
    S = clip_log_mel(y, spectrogram_settings(duration=3.0))
    expected = log_mel_spectrogram(y=y, sr=SR, n_mels=96)
    assert S.dtype == np.float16 and S.shape == (96, 1 + len(y) // 512)
    np.testing.assert_array_equal(S, expected.astype(np.float16))
    full = clip_log_mel(y, dtype=np.float32)
    np.testing.assert_allclose(full, expected, rtol=1e-6)
    assert full.max() - full.min() <= 80.0 + 1e-4  # top_db floor


# ---------------------------------------------------------------------------------------------
# The disk cache


def test_cache_is_built_once_and_reused(tmp_path, counter):
    files = make_split(tmp_path, [220, 440, 3000, 6000])
    specs, kept, skipped = log_mel_cache(tmp_path / "train", TINY, log=lambda m: None)
    assert isinstance(specs, np.memmap) and specs.dtype == np.float16
    assert specs.shape == (4, 16, 44) and kept == files and skipped == []
    assert len(counter) == 4
    for i, f in enumerate(files):  # each row is that clip's spectrogram, as predict_file sees it
        np.testing.assert_array_equal(specs[i], clip_log_mel(load_audio(tmp_path / f,
                                                                        duration=1.0), TINY))
    npy = cache_path(tmp_path / "train", TINY)
    assert npy.exists() and npy.name == f"logmel-{settings_hash(TINY)}.npy"
    meta = json.loads(npy.with_suffix(".json").read_text())
    assert meta["settings"] == TINY and meta["audio_files"] == files
    assert len(meta["annotations_sha256"]) == 64
    mtime = npy.stat().st_mtime_ns

    specs2, kept2, _ = log_mel_cache(tmp_path / "train", TINY, log=lambda m: None)
    assert len(counter) == 4  # nothing recomputed
    assert npy.stat().st_mtime_ns == mtime and kept2 == files
    np.testing.assert_array_equal(specs2, specs)
    assert not [p for p in npy.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_cache_rebuilt_when_settings_change(tmp_path, counter):
    make_split(tmp_path, [220, 3000])
    a, _, _ = log_mel_cache(tmp_path / "train", TINY, log=lambda m: None)
    other = spectrogram_settings(n_mels=24, duration=1.0)
    b, _, _ = log_mel_cache(tmp_path / "train", other, log=lambda m: None)
    assert len(counter) == 4 and a.shape[1] == 16 and b.shape[1] == 24
    assert cache_path(tmp_path / "train", TINY).exists()  # the other settings' cache is kept
    assert cache_path(tmp_path / "train", other).exists()


def test_cache_rebuilt_when_annotations_change(tmp_path, counter):
    files = make_split(tmp_path, [220, 440, 3000])
    log_mel_cache(tmp_path / "train", TINY, log=lambda m: None)
    ann = pd.read_csv(tmp_path / "train" / "annotations.csv")
    ann.iloc[[0, 2]].to_csv(tmp_path / "train" / "annotations.csv", index=False)
    messages = []
    specs, kept, _ = log_mel_cache(tmp_path / "train", TINY, log=messages.append)
    assert len(counter) == 5 and kept == [files[0], files[2]] and specs.shape[0] == 2
    assert any("annotations_sha256 changed" in m for m in messages)


def test_cache_rebuilt_when_a_clip_is_re_prepared(tmp_path, counter):
    files = make_split(tmp_path, [220, 3000])
    before = np.array(log_mel_cache(tmp_path / "train", TINY, log=lambda m: None)[0])
    st = os.stat(tmp_path / files[1])
    sf.write(tmp_path / files[1], tone(500), SR, subtype="FLOAT")  # same size, new content
    os.utime(tmp_path / files[1], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    after = log_mel_cache(tmp_path / "train", TINY, log=lambda m: None)[0]
    assert len(counter) == 4
    np.testing.assert_array_equal(after[0], before[0])
    assert not np.array_equal(after[1], before[1])


def test_damaged_cache_file_is_rebuilt(tmp_path, counter):
    make_split(tmp_path, [220, 3000])
    log_mel_cache(tmp_path / "train", TINY, log=lambda m: None)
    npy = cache_path(tmp_path / "train", TINY)
    npy.write_bytes(npy.read_bytes()[:200])  # truncated
    specs, _, _ = log_mel_cache(tmp_path / "train", TINY, log=lambda m: None)
    assert len(counter) == 4 and specs.shape == (2, 16, 44)


def test_unreadable_clips_are_reported_and_left_out(tmp_path):
    files = make_split(tmp_path, [220, 440, 3000, 6000])
    (tmp_path / files[1]).write_bytes(b"this is not audio at all" * 10)
    (tmp_path / files[2]).unlink()
    messages = []
    specs, kept, skipped = log_mel_cache(tmp_path / "train", TINY, log=messages.append)
    assert kept == [files[0], files[3]] and specs.shape == (2, 16, 44)
    assert [f for f, _ in skipped] == [files[1], files[2]]
    assert "cannot decode" in skipped[0][1] and "no such file" in skipped[1][1]
    assert sum("left out" in m for m in messages) == 2
    np.testing.assert_array_equal(
        specs[1], clip_log_mel(load_audio(tmp_path / files[3], duration=1.0), TINY))
    # Reused with the same skipped list, and clip_indices names what is missing.
    _, kept2, skipped2 = log_mel_cache(tmp_path / "train", TINY, log=messages.append)
    assert kept2 == kept and skipped2 == skipped
    with pytest.raises(CNNError, match="no cached spectrogram"):
        clip_indices(kept, files)
    assert clip_indices(kept, files, strict=False).tolist() == [0, -1, -1, 1]


def test_cache_in_worker_processes_equals_in_process(tmp_path):
    make_split(tmp_path / "a", [220, 440, 3000])
    make_split(tmp_path / "b", [220, 440, 3000])
    one = log_mel_cache(tmp_path / "a" / "train", TINY, n_jobs=1, log=lambda m: None)[0]
    two = log_mel_cache(tmp_path / "b" / "train", TINY, n_jobs=2, log=lambda m: None)[0]
    np.testing.assert_array_equal(one, two)


def test_no_readable_clip_is_a_clear_error(tmp_path):
    files = make_split(tmp_path, [220])
    (tmp_path / files[0]).write_bytes(b"garbage" * 20)
    with pytest.raises(CNNError, match="no clip could be read"):
        log_mel_cache(tmp_path / "train", TINY, log=lambda m: None)
    assert not cache_path(tmp_path / "train", TINY).exists()


def test_take_clips_and_clip_indices():
    base = np.arange(5 * 2 * 3, dtype=np.float16).reshape(5, 2, 3)
    sub = take_clips(base, clip_indices(list("abcde"), pd.Series(["d", "b"])))
    assert sub.shape == (2, 2, 3) and len(sub) == 2
    np.testing.assert_array_equal(sub[0], base[3])
    np.testing.assert_array_equal(take_clips(sub, [1])[0], base[1])  # a view of a view
    with pytest.raises(CNNError, match="out of range"):
        take_clips(base, [5])


def test_table_log_mels_pairs_rows_across_splits(tmp_path):
    train = make_split(tmp_path, [220, 440, 3000], split="train")
    test = make_split(tmp_path, [6000, 300], split="test")
    wanted = [test[1], train[2], train[0], test[0]]
    specs = table_log_mels(tmp_path, pd.Series(wanted), TINY, log=lambda m: None)
    assert specs.shape == (4, 16, 44)
    for i, f in enumerate(wanted):
        np.testing.assert_array_equal(
            specs[i], clip_log_mel(load_audio(tmp_path / f, duration=1.0), TINY))
    (tmp_path / test[0]).write_bytes(b"not audio" * 30)
    with pytest.raises(CNNError, match="no cached spectrogram"):
        table_log_mels(tmp_path, wanted, TINY, log=lambda m: None)
    joined = concat_clips(take_clips(specs, [3, 0]), specs)
    assert joined.shape == (6, 16, 44)
    np.testing.assert_array_equal(joined[0], specs[3])
    np.testing.assert_array_equal(joined[5], specs[3])
    with pytest.raises(CNNError, match="different shapes"):
        concat_clips(specs, np.zeros((1, 8, 44)))


# ---------------------------------------------------------------------------------------------
# Normalisation and crops


def test_fit_normalizer_known_answer():
    specs = np.stack([np.full((4, 10), -10.0), np.full((4, 10), -30.0)]).astype(np.float16)
    norm = fit_normalizer(specs, chunk_size=1)
    assert norm["kind"] == "global" and norm["n_clips"] == 2
    assert norm["mean"] == pytest.approx(-20.0) and norm["std"] == pytest.approx(10.0)
    x = normalize(specs, norm)
    assert x.dtype == np.float32 and x.mean() == pytest.approx(0.0) and x.std() == pytest.approx(1)
    with pytest.raises(CNNError, match="constant"):
        fit_normalizer(np.zeros((2, 4, 10)))


def test_crop_starts_known_answers():
    assert crop_starts(10, 4).tolist() == [0, 4, 6]  # the last crop ends at frame 10
    assert crop_starts(12, 4).tolist() == [0, 4, 8]
    assert crop_starts(10, 4, 2).tolist() == [0, 2, 4, 6]
    assert crop_starts(4, 4).tolist() == [0]
    with pytest.raises(CNNError, match="shorter than one crop"):
        crop_starts(3, 4)


@pytest.mark.parametrize("hybrid", [False, True])
def test_clip_probability_is_the_mean_of_crop_probabilities(rng, hybrid):
    torch.manual_seed(0)
    module = (HybridNet(16, 3, 5, **SMALL) if hybrid else SpectrogramCNN(16, 3, **SMALL)).eval()
    specs = rng.normal(-40, 10, size=(3, 16, 50)).astype(np.float16)
    tab = rng.normal(size=(3, 5)).astype(np.float32) if hybrid else None
    norm = {"kind": "global", "mean": -40.0, "std": 10.0}
    proba = predict_clip_proba(module, specs, tab=tab, normalizer=norm, crop_frames=16,
                               crop_hop=12, batch_size=4)  # batches cut across clips
    starts = crop_starts(50, 16, 12)
    assert starts.tolist() == [0, 12, 24, 34]
    for i in range(3):
        crops = []
        for s in starts:  # one crop at a time, straight through the module
            x = torch.from_numpy(normalize(specs[i][:, s:s + 16], norm))[None]
            tb = torch.from_numpy(tab[i:i + 1]) if hybrid else None
            with torch.no_grad():
                crops.append(torch.softmax(module(x, tb), dim=1)[0].numpy())
        crops = np.asarray(crops, dtype=np.float64)
        np.testing.assert_allclose(proba[i], crops.mean(axis=0), atol=1e-6)
        per_crop = predict_crop_proba(module, specs[i], tab=None if tab is None else tab[i],
                                      normalizer=norm, crop_frames=16, crop_hop=12)
        np.testing.assert_allclose(per_crop, crops, atol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


# ---------------------------------------------------------------------------------------------
# Networks


def test_architecture_round_trip_and_safe_weights(tmp_path):
    torch.manual_seed(1)
    for module in (SpectrogramCNN(16, 4, **SMALL), HybridNet(16, 2, 7, hidden=12, **SMALL)):
        module.eval()
        arch = json.loads(json.dumps(architecture(module)))  # JSON-safe
        torch.save(module.state_dict(), tmp_path / "w.pt")
        rebuilt = build_from_architecture(arch)
        rebuilt.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
        x, tab = torch.randn(2, 16, 20), torch.randn(2, getattr(module, "n_tab", 1))
        with torch.no_grad():
            assert torch.equal(module(x, tab), rebuilt(x, tab))
    with pytest.raises(CNNError, match="unknown architecture class"):
        build_from_architecture({**architecture(SpectrogramCNN(16, 2)), "class": "os.system"})
    with pytest.raises(CNNError, match="unknown"):
        build_from_architecture({**architecture(SpectrogramCNN(16, 2)), "extra": 1})
    with pytest.raises(CNNError, match="block kind"):
        build_from_architecture({**architecture(SpectrogramCNN(16, 2)), "blocks": ["x"] * 4})


def test_model_config_and_predicting_a_file(tmp_path):
    files = make_split(tmp_path, [220, 3000])
    specs, _, _ = log_mel_cache(tmp_path / "train", TINY, log=lambda m: None)
    torch.manual_seed(0)
    module = SpectrogramCNN(16, 2, **SMALL).eval()
    info = {"normalizer": fit_normalizer(specs), "crop_frames": 16, "crop_hop": 8}
    config = json.loads(json.dumps(model_config(module, info, TINY)))
    assert check_model_config(config) == config
    # A new file is seen exactly as the cached training clips were.
    p = predict_file_proba(module, tmp_path / files[1], config)
    expected = predict_clip_proba(module, specs[1:2], normalizer=info["normalizer"],
                                  crop_frames=16, crop_hop=8)[0]
    np.testing.assert_array_equal(p, expected)
    with pytest.raises(CNNError, match="mel bands"):
        check_model_config({**config, "spectrogram": {**config["spectrogram"], "n_mels": 24}})
    with pytest.raises(CNNError, match="shorter than one crop"):
        check_model_config({**config, "crop_frames": 45})
    with pytest.raises(CNNError, match="exactly the keys"):
        check_model_config({k: v for k, v in config.items() if k != "normalizer"})
    with pytest.raises(CNNError, match="normaliser"):
        check_model_config({**config, "normalizer": {"mean": 0.0, "std": -1.0}})


def test_summary_and_default_size():
    module = SpectrogramCNN()
    text = summarize(module)
    n = count_parameters(module)
    assert f"total trainable parameters: {n:,}" in text
    assert "Won et al." in text and "block4" in text and "(64, 6, 9)" in text
    assert 50_000 < n < 200_000  # compact: trains on a 2-core CPU
    assert "MLP 192-64-4" in summarize(HybridNet(96, 4, 64))


def test_input_errors_are_clear(rng):
    specs, y = band_specs(rng, 3, t=20)
    with pytest.raises(CNNError, match="class indices outside"):
        train_cnn(specs, y + 5, n_classes=2, crop_frames=8, epochs=1, arch=SMALL)
    with pytest.raises(CNNError, match="shorter than one crop"):
        train_cnn(specs, y, n_classes=2, crop_frames=40, epochs=1, arch=SMALL)
    with pytest.raises(CNNError, match="train_tab must have shape"):
        train_cnn(specs, y, n_classes=2, train_tab=np.zeros((2, 3)), crop_frames=8, epochs=1)
    with pytest.raises(CNNError, match="val_tab"):
        train_cnn(specs, y, specs, y, n_classes=2, train_tab=np.zeros((6, 3)), crop_frames=8)
    with pytest.raises(CNNError, match="shape \\(n_clips, n_mels, n_frames\\)"):
        train_cnn(specs[0], y, n_classes=2)
    hybrid = HybridNet(16, 2, 3, **SMALL)
    with pytest.raises(CNNError, match="needs the clips' scaled features"):
        predict_clip_proba(hybrid, specs, normalizer={"mean": 0.0, "std": 1.0}, crop_frames=8)
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


# ---------------------------------------------------------------------------------------------
# Training


def test_training_lowers_the_loss_on_a_separable_set(rng):
    specs, y = band_specs(rng, 12)
    vspecs, vy = band_specs(rng, 4)
    tspecs, ty = band_specs(rng, 6)
    module, history, info = train_cnn(specs, y, vspecs, vy, n_classes=2, crop_frames=32,
                                      epochs=10, patience=10, batch_size=8, arch=SMALL,
                                      device="cpu")
    assert list(history.columns) == ["epoch", "train_loss", "train_accuracy", "val_loss",
                                     "val_accuracy", "val_f1_macro", "seconds"]
    assert history["train_loss"].iloc[-1] < 0.5 * history["train_loss"].iloc[0]
    assert history["val_loss"].min() < 0.3
    proba = predict_clip_proba(module, tspecs, normalizer=info["normalizer"],
                               crop_frames=info["crop_frames"], crop_hop=info["crop_hop"])
    assert (proba.argmax(axis=1) == ty).mean() == 1.0
    assert info["architecture"]["class"] == "SpectrogramCNN" and not module.training
    assert info["normalizer"] == fit_normalizer(specs)  # training statistics only
    json.dumps(info)


def test_best_weights_are_restored(rng):
    specs, y = band_specs(rng, 6)
    vspecs, vy = band_specs(rng, 3)
    module, history, info = train_cnn(specs, y, vspecs, vy, n_classes=2, crop_frames=32,
                                      epochs=6, patience=2, batch_size=4, lr=3e-2, arch=SMALL)
    best = int(history["val_loss"].to_numpy().argmin()) + 1
    assert info["best_epoch"] == best == history.attrs["best_epoch"]
    assert info["stopped_epoch"] == len(history) <= 6
    proba = predict_clip_proba(module, vspecs, normalizer=info["normalizer"], crop_frames=32)
    loss = -np.mean(np.log(np.clip(proba[np.arange(len(vy)), vy], 1e-7, 1)))
    assert loss == pytest.approx(history["val_loss"].min(), rel=1e-5)


def test_seeded_runs_repeat_exactly(rng):
    specs, y = band_specs(rng, 5)
    vspecs, vy = band_specs(rng, 2)
    tab, vtab = rng.normal(size=(10, 3)), rng.normal(size=(4, 3))
    state_before = torch.random.get_rng_state()

    def run(seed, **kw):
        m, h, info = train_cnn(specs, y, vspecs, vy, n_classes=2, crop_frames=32, epochs=3,
                               batch_size=4, arch=SMALL, seed=seed, device="cpu", **kw)
        p = predict_clip_proba(m, vspecs, tab=kw.get("val_tab"), normalizer=info["normalizer"],
                               crop_frames=32)
        return m.state_dict(), h, p

    (a, ha, pa), (b, hb, pb) = run(3), run(3)
    assert all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_array_equal(pa, pb)
    pd.testing.assert_frame_equal(ha.drop(columns="seconds"), hb.drop(columns="seconds"))
    c, _, _ = run(4)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    (ha_, _, qa), (hb_, _, qb) = run(3, train_tab=tab, val_tab=vtab), run(3, train_tab=tab,
                                                                             val_tab=vtab)
    assert all(torch.equal(ha_[k], hb_[k]) for k in ha_)
    np.testing.assert_array_equal(qa, qb)
    assert torch.equal(torch.random.get_rng_state(), state_before)  # global RNG untouched


def test_hybrid_trains_and_uses_the_features(rng):
    # The spectrograms are pure noise; only the features tell the classes apart.
    n = 24
    specs = rng.normal(-50, 5, size=(n, 16, 40)).astype(np.float16)
    y = np.arange(n) % 2
    tab = rng.normal(size=(n, 4)).astype(np.float32)
    tab[:, 0] += np.where(y == 1, 3.0, -3.0)
    module, history, info = train_cnn(specs[:16], y[:16], specs[16:], y[16:], n_classes=2,
                                      train_tab=tab[:16], val_tab=tab[16:], crop_frames=16,
                                      crops_per_clip=4, epochs=10, patience=10, batch_size=8,
                                      lr=3e-3,
                                      arch={**SMALL, "hidden": 16})
    assert isinstance(module, HybridNet) and info["architecture"]["n_tab"] == 4
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    proba = predict_clip_proba(module, specs[16:], tab=tab[16:], normalizer=info["normalizer"],
                               crop_frames=16)
    assert (proba.argmax(axis=1) == y[16:]).mean() == 1.0
    flipped = tab[16:].copy()
    flipped[:, 0] *= -1  # the informative feature says the other class
    proba = predict_clip_proba(module, specs[16:], tab=flipped, normalizer=info["normalizer"],
                               crop_frames=16)
    assert (proba.argmax(axis=1) == y[16:]).mean() <= 0.25


def test_progress_callback_and_no_validation(rng):
    specs, y = band_specs(rng, 3)
    rows = []
    threads = torch.get_num_threads()
    _, history, info = train_cnn(specs, y, n_classes=2, crop_frames=32, epochs=2, arch=SMALL,
                                 progress=rows.append, n_threads=1)
    assert [r["epoch"] for r in rows] == [1, 2] and info["best_epoch"] == 2
    assert history["val_loss"].isna().all()
    assert torch.get_num_threads() == threads  # the thread setting is restored


def test_bad_thread_count_is_refused_leaving_torch_as_it_was(rng):
    # The torch-threads helper is shared (bag_of_songs._threads); the spectrogram models still
    # refuse a bad count with their own error, before touching torch's global settings.
    specs, y = band_specs(rng, 2)
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    with pytest.raises(CNNError, match="n_threads must be >= 1"):
        train_cnn(specs, y, n_classes=2, crop_frames=32, epochs=1, arch=SMALL, n_threads=0)
    module = SpectrogramCNN(16, 2, **SMALL).eval()
    normalizer = fit_normalizer(specs)
    with pytest.raises(CNNError, match="n_threads must be >= 1"):
        predict_clip_proba(module, specs, normalizer=normalizer, crop_frames=32, n_threads=0)
    with pytest.raises(CNNError, match="n_threads must be >= 1"):
        predict_crop_proba(module, specs[0], normalizer=normalizer, crop_frames=32, n_threads=0)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det


# ---------------------------------------------------------------------------------------------
# Late fusion


def test_late_fusion_known_answers():
    a = np.array([[0.9, 0.1], [0.2, 0.8]])
    b = np.array([[0.5, 0.5], [0.6, 0.4]])
    np.testing.assert_allclose(late_fusion_proba([a, b]), (a + b) / 2)
    np.testing.assert_allclose(late_fusion_proba([a, b], weights=[3, 1]), 0.75 * a + 0.25 * b)
    assert choose_fusion_weight(a, b, np.array([0, 1])) == 1.0  # a is right, b is wrong
    assert choose_fusion_weight(b, a, np.array([0, 1])) == 0.0
    assert choose_fusion_weight(a, a, np.array([0, 1])) == 0.5  # a tie goes to the middle
    with pytest.raises(CNNError, match="non-negative weights"):
        late_fusion_proba([a, b], weights=[1, -1])
    with pytest.raises(CNNError, match="one shape"):
        late_fusion_proba([a, b[:1]])


# ---------------------------------------------------------------------------------------------
# Real clips


@pytest.mark.slow
def test_cnn_trains_above_chance_on_real_clips(emotify_dir, tmp_path):
    """40 real Emotify clips (20 classical, 20 others), artist-grouped: Classic vs Non_classic."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedGroupKFold

    from bag_of_songs.data import prepare

    src = tmp_path / "src"
    picks = {"classical": 20, "electronic": 7, "pop": 7, "rock": 6}
    for genre, k in picks.items():
        (src / genre).mkdir(parents=True)
        for p in sorted((emotify_dir / genre).glob("*.mp3"))[:k]:
            (src / genre / p.name).symlink_to(p)
    out = tmp_path / "data"
    prepare(src, out, split="all", n_jobs=2, progress=False, log=lambda m: None)
    specs, files, skipped = log_mel_cache(out / "all", n_jobs=2, log=lambda m: None)
    assert skipped == [] and specs.shape == (40, 96, 1292)
    ann = pd.read_csv(out / "all" / "annotations.csv", dtype=str).set_index("audio_file")
    manifest = pd.read_csv(emotify_dir / "manifest.csv", dtype=str).set_index("path")
    labels = ann.loc[files, "fst_level_label"].to_numpy()
    artists = manifest.loc[ann.loc[files, "source"].to_numpy(), "artist"].to_numpy()
    y = (labels == "Non_classic").astype(np.int64)

    outer = StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=0)
    rest, test = next(outer.split(specs[:, 0, 0], y, artists))
    inner = StratifiedGroupKFold(n_splits=4, shuffle=True, random_state=0)
    tr, va = next(inner.split(rest, y[rest], artists[rest]))
    tr, va = rest[tr], rest[va]
    assert not set(artists[test]) & set(artists[tr])
    module, history, info = train_cnn(take_clips(specs, tr), y[tr], take_clips(specs, va), y[va],
                                      n_classes=2, crops_per_clip=8, epochs=20, patience=6,
                                      seed=0)
    proba = predict_clip_proba(module, take_clips(specs, test), normalizer=info["normalizer"],
                               crop_frames=info["crop_frames"], crop_hop=info["crop_hop"])
    f1 = f1_score(y[test], proba.argmax(axis=1), average="macro")
    assert f1 >= 0.7, (f1, history)  # chance is 0.5
