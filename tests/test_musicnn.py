"""The TensorFlow checkpoint reader and the torch port of musicnn.

- The reader on the real musicnn checkpoints and on crafted malformed indexes.
- The port against the activations of the original TensorFlow models stored in
  ``../shared/data/musicnn-reference/`` (both models, three real clips, four layers), and the
  project's log-mel front end against the stored network input.

Tests that need the checkpoints skip, naming the pip command, when the ``musicnn`` wheel is not
installed; with ``CI=true`` they fail instead (CI installs it).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import EMOTIFY, IN_CI, SHARED, require
from protobuf_writer import field, varint

from bag_of_songs import musicnn as mn
from bag_of_songs import tfcheckpoint as tc
from bag_of_songs.embeddings.tfcheckpoint.crc32c import mask, unmask
from bag_of_songs.embeddings.tfcheckpoint.table import block_handle

REFERENCE = SHARED / "data" / "musicnn-reference"


@pytest.fixture(scope="module")
def weights_root() -> Path:
    try:
        return mn.musicnn_checkpoint_dir("MSD_musicnn").parent
    except mn.MusicnnError as exc:
        if IN_CI:
            pytest.fail(f"{exc} (CI=true requires the checkpoints)")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def reference(weights_root) -> dict:
    """The stored reference activations: meta.json and the six npz files."""
    root = require(REFERENCE)
    meta = json.loads((root / "meta.json").read_text())
    data = {}
    for model in mn.MODELS:
        for i in range(len(meta["clips"])):
            with np.load(root / f"{model}_clip{i}.npz") as f:
                data[model, i] = {k: f[k] for k in f.files}
    return {"meta": meta, "data": data}


# ---------------------------------------------------------------------------------------------
# CRC-32C


def _crc_bytewise(data: bytes) -> int:
    reg = 0xFFFFFFFF
    for b in data:
        reg ^= b
        for _ in range(8):
            reg = (reg >> 1) ^ (0x82F63B78 if reg & 1 else 0)
    return reg ^ 0xFFFFFFFF


def test_crc32c_known_answers(rng):
    assert tc.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert tc.crc32c(b"") == 0
    assert tc.crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720, B.4: 32 bytes of zeros
    # The vectorised path (>= 8 kB) agrees with a plain bit-by-bit CRC, and extends.
    data = rng.integers(0, 256, 20_000 + 77, dtype=np.uint8).tobytes()
    assert tc.crc32c(data) == _crc_bytewise(data)
    assert tc.crc32c(data[9_000:], tc.crc32c(data[:9_000])) == tc.crc32c(data)
    assert unmask(mask(0x12345678)) == 0x12345678


# ---------------------------------------------------------------------------------------------
# A minimal writer of bundle indexes, to craft valid and malformed ones


_varint, _field = varint, field


def _entry_proto(*, dtype=1, shape=(2, 3), offset=0, size=None, crc=None, slices=False) -> bytes:
    dims = b"".join(_field(2, 2, _field(1, 0, d)) for d in shape)
    size = int(np.prod(shape)) * 4 if size is None else size
    out = _field(1, 0, dtype) + _field(2, 2, dims) + _field(4, 0, offset) + _field(5, 0, size)
    if crc is not None:
        out += _field(6, 5, mask(crc))
    if slices:
        out += _field(7, 2, b"")
    return out


HEADER = _field(1, 0, 1) + _field(3, 2, _field(1, 0, 1))  # one shard, producer 1


def _block(entries, *, kind=0) -> bytes:
    body = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v for k, v in entries)
    body += struct.pack("<II", 0, 1)
    return body + bytes([kind]) + struct.pack("<I", mask(tc.crc32c(body + bytes([kind]))))


def _table(entries, *, kind=0, magic=tc.TABLE_MAGIC) -> bytes:
    data = _block(entries, kind=kind)
    data_size = len(data) - 5
    index = _block([(entries[-1][0], _varint(0) + _varint(data_size))])
    meta_at = len(data) + len(index)
    meta = _block([])
    handles = (_varint(meta_at) + _varint(len(meta) - 5) + _varint(len(data))
               + _varint(len(index) - 5))
    footer = handles.ljust(40, b"\0") + struct.pack("<Q", magic)
    return data + index + meta + footer


def _write_bundle(folder: Path, entries, payload: bytes, **kwargs) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".index").write_bytes(_table(entries, **kwargs))
    (folder / ".data-00000-of-00001").write_bytes(payload)
    return str(folder) + "/"


def _good_entries(payload: bytes, **kwargs):
    return [(b"", HEADER), (b"w", _entry_proto(crc=tc.crc32c(payload), **kwargs))]


PAYLOAD = np.arange(6, dtype="<f4").tobytes()


def test_crafted_bundle_reads(tmp_path):
    prefix = _write_bundle(tmp_path / "ok", _good_entries(PAYLOAD), PAYLOAD)
    header, entries = tc.read_index(prefix + ".index")
    assert header["num_shards"] == 1 and list(entries) == ["w"]
    w = tc.read_checkpoint(prefix)["w"]
    np.testing.assert_array_equal(w, np.arange(6, dtype=np.float32).reshape(2, 3))
    assert w.flags.writeable


@pytest.mark.parametrize("case, message", [
    ("magic", "bad magic"),
    ("short", "too short"),
    ("truncated", "bad magic"),
    ("block_crc", "CRC-32C"),
    ("snappy", "snappy"),
    ("dtype", "DT_STRING"),
    ("size", "should take 24 bytes"),
    ("offset", "holds only 24 bytes"),
    ("huge", "holds only 24 bytes"),
    ("tensor_crc", "fails its CRC-32C"),
    ("slices", "slices"),
    ("order", "out of order"),
    ("no_header", "no bundle header"),
    ("varint", "varint"),
    ("handle", "runs past the end of the table"),
])
def test_malformed_bundle_refused(tmp_path, case, message):
    entries = _good_entries(PAYLOAD)
    payload, kwargs = PAYLOAD, {}
    if case == "magic":
        kwargs["magic"] = 0x1234
    elif case == "snappy":
        kwargs["kind"] = 1
    elif case == "dtype":
        entries[1] = (b"w", _entry_proto(dtype=7))
    elif case == "size":
        entries[1] = (b"w", _entry_proto(size=20))
    elif case == "offset":
        entries[1] = (b"w", _entry_proto(offset=8))
    elif case == "huge":  # a 4 TB tensor declared consistently: refused, never allocated
        entries[1] = (b"w", _entry_proto(shape=(2**20, 2**20)))
    elif case == "tensor_crc":
        payload = PAYLOAD[:-1] + b"\x7f"
    elif case == "slices":
        entries[1] = (b"w", _entry_proto(slices=True))
    elif case == "order":
        entries = [entries[0], (b"z", entries[1][1]), (b"w", entries[1][1])]
    elif case == "no_header":
        entries = entries[1:]
    elif case == "varint":
        entries[1] = (b"w", b"\x08\xff\xff")  # dtype field whose varint never ends
    prefix = _write_bundle(tmp_path / case, entries, payload, **kwargs)
    index = Path(prefix + ".index")
    raw = index.read_bytes()
    if case == "short":
        index.write_bytes(raw[:20])
    elif case == "truncated":
        index.write_bytes(raw[:-3])
    elif case == "block_crc":
        index.write_bytes(raw[:3] + bytes([raw[3] ^ 1]) + raw[4:])
    elif case == "handle":  # the index block's handle points past the table
        footer = raw[-48:]
        _, pos = block_handle(footer, 0, 40, "")
        handles = footer[:pos] + _varint(len(raw)) + _varint(10)
        index.write_bytes(raw[:-48] + handles.ljust(40, b"\0") + footer[40:])
    with pytest.raises(tc.CheckpointError, match=message):
        tc.read_checkpoint(prefix)


def test_missing_bundle_files(tmp_path):
    with pytest.raises(tc.CheckpointError, match="cannot read"):
        tc.read_index(tmp_path / "nothing.index")
    prefix = _write_bundle(tmp_path / "b", _good_entries(PAYLOAD), PAYLOAD)
    Path(prefix + ".data-00000-of-00001").unlink()
    with pytest.raises(tc.CheckpointError, match="missing checkpoint data shard"):
        tc.Checkpoint(prefix)
    assert issubclass(tc.CheckpointError, ValueError)


# ---------------------------------------------------------------------------------------------
# The reader on the real checkpoints


def test_real_index(weights_root):
    header, entries = tc.read_index(weights_root / "MSD_musicnn" / ".index")
    assert header["num_shards"] == 1 and header["endianness"] == 0
    # The model's 64 tensors, Adam's two slots for each of the 42 trainable ones, 2 beta powers.
    assert len(entries) == 150
    assert entries["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert entries["conv2d_1/kernel"].shape == (7, 67, 1, 204)
    assert entries["conv2d_5/kernel"].shape == (7, 561, 1, 64)
    assert entries["dense/kernel"].shape == (1506, 200)
    assert entries["dense_1/kernel"].shape == (200, 50)
    assert all(e.dtype == np.float32 for e in entries.values())
    assert all(e.crc32c is not None for e in entries.values())


def test_real_checkpoint_corruption_detected(weights_root, tmp_path):
    src = weights_root / "MSD_musicnn"
    bad = tmp_path / "MSD_musicnn"
    bad.mkdir()
    shutil.copy(src / ".index", bad / ".index")
    data = bytearray((src / ".data-00000-of-00001").read_bytes())
    entry = tc.read_index(src / ".index")[1]["dense/kernel"]
    data[entry.offset + 100] ^= 0x40  # one flipped bit inside dense/kernel
    (bad / ".data-00000-of-00001").write_bytes(bytes(data))
    ckpt = tc.Checkpoint(str(bad) + "/")
    ckpt.read("conv2d/kernel")  # other tensors still read
    with pytest.raises(tc.CheckpointError, match="dense/kernel.*CRC-32C"):
        ckpt.read("dense/kernel")
    (bad / ".data-00000-of-00001").write_bytes(bytes(data[:-1000]))
    with pytest.raises(tc.CheckpointError, match="truncated"):
        tc.Checkpoint(str(bad) + "/")
    index = (src / ".index").read_bytes()
    (bad / ".index").write_bytes(index[:100] + index[-48:])  # blocks cut, footer kept
    with pytest.raises(tc.CheckpointError, match="truncated or corrupt"):
        tc.Checkpoint(str(bad) + "/")


# ---------------------------------------------------------------------------------------------
# Loading the port


def test_missing_checkpoints_name_the_pip_command(tmp_path, monkeypatch):
    with pytest.raises(mn.MusicnnError, match=r"pip install --no-deps musicnn==0\.1\.0"):
        mn.load_musicnn("MSD_musicnn", weights_dir=tmp_path)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(mn.MusicnnError, match="not installed.*pip install --no-deps musicnn"):
        mn.musicnn_checkpoint_dir("MTT_musicnn")


def test_wrong_checkpoint_refused(weights_root, tmp_path):
    # The VGG checkpoint has other variables: refused by name, not loaded half-way.
    fake = tmp_path / "MSD_musicnn"
    fake.mkdir()
    for name in (".index", ".data-00000-of-00001"):
        (fake / name).symlink_to(weights_root / "MSD_vgg" / name)
    with pytest.raises(tc.CheckpointError, match="no variable 'conv2d/kernel'|not a musicnn"):
        mn.load_musicnn("MSD_musicnn", weights_dir=tmp_path)


def test_unknown_model_and_layer():
    with pytest.raises(mn.MusicnnError, match="unknown musicnn model"):
        mn.musicnn_tags("MSD_vgg")
    with pytest.raises(mn.MusicnnError, match="unknown musicnn layer"):
        mn.embed_patches(np.zeros((1, 187, 96), np.float32), layers=["cnn9"])
    with pytest.raises(mn.MusicnnError, match="shape"):
        mn.embed_patches(np.zeros((187, 96), np.float32))
    with pytest.raises(mn.MusicnnError, match="finite"):
        mn.embed_patches(np.full((1, 187, 96), np.nan, np.float32))
    with pytest.raises(mn.MusicnnError, match="batch_size"):
        mn.embed_patches(np.zeros((1, 187, 96), np.float32), batch_size=0)


def test_import_is_light():
    code = ("import sys, bag_of_songs.musicnn, bag_of_songs.tfcheckpoint; "
            "import bag_of_songs.embeddings.musicnn; "
            "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# Every name the flat modules exported before the code moved into bag_of_songs.embeddings.
OLD_MUSICNN_NAMES = (
    "MusicnnError", "CheckpointError", "MODELS", "LAYERS", "LAYER_SIZES", "SR", "N_FFT",
    "HOP_LENGTH", "N_MELS", "N_FRAMES", "PIP_COMMAND", "musicnn_checkpoint_dir", "musicnn_tags",
    "musicnn_settings", "musicnn_input", "load_musicnn", "embed_patches", "musicnn_features")
OLD_TFCHECKPOINT_NAMES = (
    "CheckpointError", "TensorEntry", "Checkpoint", "read_index", "read_checkpoint", "crc32c",
    "DTYPES", "TABLE_MAGIC", "MAX_INDEX_BYTES", "MAX_SHARDS", "MAX_ENTRIES", "MAX_KEY_BYTES",
    "MAX_KEYS_TOTAL_BYTES", "MAX_RANK", "MAX_TENSOR_BYTES")


def test_the_old_modules_re_export_the_embeddings_packages():
    from bag_of_songs.embeddings import musicnn as new_mn
    from bag_of_songs.embeddings import tfcheckpoint as new_tc

    for old, new, names in ((mn, new_mn, OLD_MUSICNN_NAMES),
                            (tc, new_tc, OLD_TFCHECKPOINT_NAMES)):
        assert set(names) <= set(old.__all__) == set(new.__all__)
        for name in old.__all__:
            assert getattr(old, name) is getattr(new, name), name
    from bag_of_songs import errors

    assert mn.CheckpointError is tc.CheckpointError is errors.CheckpointError
    assert mn.MusicnnError is errors.MusicnnError
    for cls in (mn.MusicnnError, tc.CheckpointError):
        assert issubclass(cls, ValueError) and issubclass(cls, errors.BagOfSongsError)


def test_the_embeddings_do_not_import_the_feature_tables():
    # Dependencies run one way: spectrum -> embeddings -> features (which stores embeddings).
    import ast

    import bag_of_songs.embeddings as pkg

    root = Path(pkg.__file__).parent
    for path in sorted(root.rglob("*.py")):
        depth = len(path.relative_to(root).parts)  # level 1 + depth reaches bag_of_songs
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]
                if node.level == depth + 1:  # relative to bag_of_songs itself
                    assert not any(n.split(".")[0] == "features" for n in names), path
                if node.level == 0:
                    assert not (node.module or "").startswith("bag_of_songs.features"), path
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("bag_of_songs.features") for a in node.names)


def test_loaded_network(weights_root):
    torch = pytest.importorskip("torch")
    net = mn.load_musicnn("MTT_musicnn")
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    ckpt = tc.Checkpoint(str(weights_root / "MTT_musicnn") + "/")
    # Layout conversions: TF HWIO -> torch OIHW, (7, C, 1, O) -> (O, C, 7), dense transposed.
    k = ckpt.read("conv2d_1/kernel")
    np.testing.assert_array_equal(net.timbral[1].conv.weight.numpy()[5, 0, 2, 9], k[2, 9, 0, 5])
    k = ckpt.read("conv2d_5/kernel")
    np.testing.assert_array_equal(net.midend[0].conv.weight.numpy()[7, 300, 4], k[4, 300, 0, 7])
    np.testing.assert_array_equal(net.dense.weight.numpy(), ckpt.read("dense/kernel").T)
    np.testing.assert_array_equal(net.bn_pool.moving_variance.numpy(),
                                  ckpt.read("batch_normalization_9/moving_variance"))
    out = net(torch.zeros(3, 187, 96))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        k: (3, n) for k, n in mn.LAYER_SIZES.items()}


def test_pooled_blocks_equal_the_plain_order(weights_root, rng):
    """ReLU + batch norm after the max over frequency (the memory saver) is bit-identical to
    batch norm of the full map then max, including channels whose batch-norm scale is < 0."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    net = mn.load_musicnn("MSD_musicnn")
    x = net.bn_input(torch.from_numpy(rng.uniform(0, 4, (2, 1, 187, 96)).astype(np.float32)))
    for blk in (*net.timbral, *net.temporal):
        assert (blk.bn.scale() < 0).any()  # both branches are exercised
        pad = (blk.pad, blk.pad) if isinstance(blk.pad, int) else blk.pad
        plain = blk.bn(F.relu(blk.conv(F.pad(x, (0, 0, *pad))))).amax(dim=3)
        assert torch.equal(blk(x), plain)


# ---------------------------------------------------------------------------------------------
# Parity with the original TensorFlow models


def _scaled_error(ours: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


@pytest.mark.parametrize("model", mn.MODELS)
def test_port_reproduces_the_original(reference, model):
    """Given the stored input patches, the port reproduces the stored ``mean_pool``,
    ``max_pool``, ``penultimate`` and ``taggram`` of the TensorFlow model on all three clips.

    Tolerance: max |ours - TF| <= 1e-5 * max |TF| per layer and clip, in float32. Measured:
    at most 2.2e-6 (``max_pool``, values up to 135, abs. error 1.7e-4), ``mean_pool`` 1.1e-6,
    ``penultimate`` 1.5e-6, ``taggram`` 1.2e-6 (abs. 6.7e-7). These are float32 rounding
    differences of the convolution sums (up to 7 x 561 = 3,927 products per output, so
    sqrt(3927) * 2^-24 is about 4e-6 of the operands' scale) and of TF's fused batch norm;
    the bound is 5x the worst measured. A layout or padding slip moves them by far more
    (measured: a kernel flipped along frequency, the temporal 'same' padding on the wrong
    side, max and mean pools concatenated instead of interleaved, or a batch-norm epsilon of
    1e-5 instead of TF's 1e-3 each give scaled errors of 0.26 to 1.6 in some layer).
    Elementwise relative errors are not bounded: entries near 0 (ReLU outputs after batch
    norm) have relative errors up to 2e-3 with absolute errors of 1e-6.
    """
    meta = reference["meta"]
    assert mn.musicnn_tags(model) == meta[f"{model}_labels"]
    for i in range(len(meta["clips"])):
        ref = reference["data"][model, i]
        patches = reference["data"]["MSD_musicnn", i]["input"]
        out = mn.embed_patches(patches, model=model,
                               layers=("mean_pool", "max_pool", "penultimate", "taggram"))
        for layer, ours in out.items():
            assert ours.shape == ref[layer].shape and ours.dtype == np.float32
            err = _scaled_error(ours, ref[layer])
            assert err <= 1e-5, f"{model} clip {i} {layer}: scaled error {err:.2e}"


def test_front_end_reproduces_the_reference_input(reference):
    """The project's log-mel front end, from the clip files, reproduces the stored input.

    ``load_audio(path, sr=16000)`` equals ``librosa.load(path, sr=16000, duration=30)``
    sample for sample; the remaining difference is the STFT's float32 arithmetic:
    ``compute_spectrogram`` runs the FFT in float32, librosa in float64 (its float64 window
    promotes the frames) before casting to complex64. Tolerance: atol 5e-5 on log-mel values
    of 0 to 6.3; measured at most 9.8e-6 (mean 1.6e-7), on the quietest mel bins, where
    log10(10000 x + 1) has its steepest slope (4,343 per unit of x near 0), so an FFT rounding
    of 2e-9 in a -90 dB bin shows. The next test shows that this does not change the network's
    outputs beyond its own float32 rounding.
    """
    from bag_of_songs.data import load_audio

    emotify = require(EMOTIFY)
    for i, clip in enumerate(reference["meta"]["clips"]):
        y = load_audio(emotify / clip, sr=mn.SR)
        ours = mn.musicnn_input(y, sr=mn.SR)
        ref = reference["data"]["MSD_musicnn", i]["input"]
        assert ours.shape == ref.shape == (10, 187, 96) and ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref, rtol=0, atol=5e-5, err_msg=clip)


def test_clip_to_embedding_end_to_end(reference):
    """From the clip file to the MSD embedding, within the port's tolerance (measured 2.2e-6
    scaled error with the project's front end, the same as from the stored input), also from
    the clip as ``prepare`` stores it (22,050 Hz, resampled again to 16 kHz: input within
    1.4e-5 of the reference, embedding within 1.6e-6 scaled), so feature tables can embed the
    prepared WAVs."""
    from bag_of_songs.data import load_audio

    emotify = require(EMOTIFY)
    clip = reference["meta"]["clips"][1]
    y = load_audio(emotify / clip, sr=mn.SR)
    ref = reference["data"]["MSD_musicnn", 1]
    emb = mn.musicnn_features(y, sr=mn.SR)
    assert emb.shape == (10, 200)
    assert _scaled_error(emb, ref["penultimate"]) <= 1e-5
    tags = mn.embed_patches(mn.musicnn_input(y, sr=mn.SR), layers=["taggram"])["taggram"]
    assert _scaled_error(tags, ref["taggram"]) <= 1e-5
    # The clip's top tag (mean over patches) is the one the original model gives.
    assert np.argmax(tags.mean(0)) == np.argmax(ref["taggram"].mean(0))
    prepared = mn.musicnn_features(load_audio(emotify / clip), sr=22050)
    assert _scaled_error(prepared, ref["penultimate"]) <= 1e-5


def test_batches_do_not_change_results(reference):
    patches = reference["data"]["MSD_musicnn", 0]["input"][:5]
    one = mn.embed_patches(patches, layers=["penultimate"], batch_size=1)["penultimate"]
    many = mn.embed_patches(patches, layers=["penultimate"], batch_size=4)["penultimate"]
    np.testing.assert_allclose(one, many, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# The front end on synthetic signals


def test_input_shapes_and_padding():
    sr = mn.SR
    t = np.arange(30 * sr) / sr
    y = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    x = mn.musicnn_input(y, sr=sr)
    assert x.shape == (10, 187, 96) and x.dtype == np.float32  # 1876 frames: 6 dropped
    # A 1 kHz sine: the loudest band is the mel band whose centre is nearest 1 kHz.
    import librosa

    centres = librosa.mel_frequencies(n_mels=96 + 2, fmax=sr / 2)[1:-1]
    assert np.argmax(x[3, 90]) == np.argmin(np.abs(centres - 1000))
    # Resampled from 22,050 Hz: the same patches, up to the resampler.
    y22 = librosa.resample(y, orig_sr=sr, target_sr=22050, res_type="soxr_hq")
    x22 = mn.musicnn_input(y22, sr=22050)
    assert x22.shape == x.shape
    np.testing.assert_allclose(x22[1:-1], x[1:-1], atol=0.05)
    # Shorter than one patch (1 s = 63 frames): its frames tiled into one patch.
    short = mn.musicnn_input(y[:sr], sr=sr)
    assert short.shape == (1, 187, 96)
    np.testing.assert_array_equal(short[0, 63:126], short[0, :63])
    # Silence is finite (log10(1) = 0).
    assert np.all(mn.musicnn_input(np.zeros(4 * sr, np.float32), sr=sr) == 0)


@pytest.mark.parametrize("y, message", [
    (np.zeros((2, 100), np.float32), "mono"),
    (np.zeros(0, np.float32), "empty"),
    (np.array([0.0, np.nan], np.float32), "non-finite"),
    (np.zeros(100, np.int16), "floating-point"),
])
def test_input_refuses_bad_signals(y, message):
    with pytest.raises(mn.MusicnnError, match=message):
        mn.musicnn_input(y, sr=16000)


def test_settings_trace_the_checkpoint(weights_root):
    msd = mn.musicnn_settings("MSD_musicnn", "penultimate")
    mtt = mn.musicnn_settings("MTT_musicnn", "taggram")
    assert msd["n_dims"] == 200 and mtt["n_dims"] == 50
    assert len(msd["checkpoint_sha256"]) == 64
    assert msd["checkpoint_sha256"] != mtt["checkpoint_sha256"]
    with pytest.raises(mn.MusicnnError, match="layer"):
        mn.musicnn_settings("MSD_musicnn", "pool5")
