"""The TensorFlow checkpoint reader on hostile bundles: declared counts and sizes are bounded.

Every count and size an index declares (``num_shards``, the number and length of its keys, a
tensor's rank, element count, ``shard_id``, ``offset`` and ``size``) is checked against the
reader's limits and the real files' sizes before anything is allocated or iterated; each
refusal is a ``CheckpointError`` whose message names the field. The hostile bundles are built
here, in ``tmp_path`` (a minimal index writer below), or rebuilt from the real musicnn
checkpoint, which comes from the ``musicnn`` wheel (skipped when it is not installed, required
when ``CI=true``).
"""

from __future__ import annotations

import os
import struct
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import IN_CI
from protobuf_writer import field, varint

from bag_of_songs import musicnn as mn
from bag_of_songs import tfcheckpoint as tc
from bag_of_songs.embeddings.tfcheckpoint import limits
from bag_of_songs.embeddings.tfcheckpoint.crc32c import mask
from bag_of_songs.embeddings.tfcheckpoint.table import table_entries

# ---------------------------------------------------------------------------------------------
# A minimal writer of bundle indexes (LevelDB table, protobuf values)


_varint, _field = varint, field


def _header(num_shards: int = 1) -> bytes:
    return _field(1, 0, num_shards) + _field(3, 2, _field(1, 0, 1))


def _shape(dims) -> bytes:
    return b"".join(_field(2, 2, _field(1, 0, d)) for d in dims)


def _entry(*, shape=(2, 3), shard_id=0, offset=0, size=None, dtype=1) -> bytes:
    size = int(np.prod(shape, dtype=object)) * 4 if size is None else size
    out = _field(1, 0, dtype) + _field(2, 2, _shape(shape))
    if shard_id:
        out += _field(3, 0, shard_id)
    return out + _field(4, 0, offset) + _field(5, 0, size)


def _raw_block(body: bytes) -> bytes:
    """A block from already encoded entries: restart array, compression byte 0 and CRC."""
    body += struct.pack("<II", 0, 1) + b"\0"
    return body + struct.pack("<I", mask(tc.crc32c(body)))


def _block(entries) -> bytes:
    return _raw_block(b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v
                               for k, v in entries))


def _table(entries=None, *, data_block: bytes | None = None, n_handles: int = 1) -> bytes:
    """An index table of one data block (``n_handles`` index entries all point at it)."""
    data = _block(entries) if data_block is None else data_block
    handle = _varint(0) + _varint(len(data) - 5)
    index = _block([(bytes([i]), handle) for i in range(n_handles)])
    handles = _varint(len(data) + len(index)) + _varint(0) + _varint(len(data)) \
        + _varint(len(index) - 5)
    return data + index + handles.ljust(40, b"\0") + struct.pack("<Q", tc.TABLE_MAGIC)


PAYLOAD = np.arange(6, dtype="<f4").tobytes()


def _bundle(folder: Path, entries=None, *, num_shards: int = 1, shards=(PAYLOAD,),
            **table) -> str:
    """Write ``folder/.index`` (header with ``num_shards`` + ``entries``) and the shards."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = [(b"w", _entry())] if entries is None else entries
    if "data_block" not in table:
        table["entries"] = [(b"", _header(num_shards)), *entries]
    (folder / ".index").write_bytes(_table(**table))
    for i, payload in enumerate(shards):
        (folder / f".data-{i:05d}-of-{len(shards):05d}").write_bytes(payload)
    return str(folder) + "/"


def test_the_writer_makes_a_readable_bundle(tmp_path):
    prefix = _bundle(tmp_path / "ok")
    np.testing.assert_array_equal(tc.read_checkpoint(prefix)["w"],
                                  np.arange(6, dtype=np.float32).reshape(2, 3))
    # Two shards, a tensor in each (the second one at an offset), and an empty tensor.
    entries = [(b"a", _entry(shape=(2,), offset=4)), (b"b", _entry(shape=(3,), shard_id=1)),
               (b"e", _entry(shape=(0, 5), offset=12))]
    prefix = _bundle(tmp_path / "two", entries, num_shards=2, shards=(PAYLOAD, PAYLOAD))
    got = tc.read_checkpoint(prefix)
    np.testing.assert_array_equal(got["a"], [1, 2])
    np.testing.assert_array_equal(got["b"], [0, 1, 2])
    assert got["e"].shape == (0, 5)


# ---------------------------------------------------------------------------------------------
# Shards


@pytest.mark.parametrize("num_shards", [2**40, 2**63 - 1, 1025, 0])
def test_num_shards_is_bounded_before_any_shard_is_named(tmp_path, num_shards):
    # 2**40 shards made the reader build 2**40 file names (tens of seconds, gigabytes).
    prefix = _bundle(tmp_path / "b", num_shards=num_shards)
    with pytest.raises(tc.CheckpointError, match=rf"num_shards = {num_shards}, expected 1 to "
                                                 rf"{tc.MAX_SHARDS}"):
        tc.Checkpoint(prefix)
    with pytest.raises(tc.CheckpointError, match="num_shards"):
        tc.read_index(prefix + ".index")


def test_every_declared_shard_must_exist(tmp_path):
    prefix = _bundle(tmp_path / "b", num_shards=3)  # only data-00000-of-00001 is there
    with pytest.raises(tc.CheckpointError, match=r"\.data-00000-of-00003: missing checkpoint "
                                                 "data shard"):
        tc.Checkpoint(prefix)
    prefix = _bundle(tmp_path / "c", [(b"w", _entry(shard_id=5))], num_shards=2,
                     shards=(PAYLOAD, PAYLOAD))
    with pytest.raises(tc.CheckpointError, match="shard_id 5 of num_shards = 2"):
        tc.Checkpoint(prefix)


def _raises_without_blocking(call, match: str) -> None:
    """``call()`` raises CheckpointError matching ``match`` within 20 s (not stuck on a FIFO)."""
    outcome = []

    def run():
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(20)
    assert outcome, "the reader blocked opening a FIFO"
    with pytest.raises(tc.CheckpointError, match=match):
        raise outcome[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_a_fifo_is_refused_not_waited_on(tmp_path):
    # An empty tensor in a FIFO shard: opening it to read would wait for a writer forever.
    prefix = _bundle(tmp_path / "shard", [(b"w", _entry(shape=(0,)))], shards=())
    os.mkfifo(prefix + ".data-00000-of-00001")
    _raises_without_blocking(lambda: tc.read_checkpoint(prefix), "not a regular file")
    index = tmp_path / "index" / ".index"
    index.parent.mkdir()
    os.mkfifo(index)
    _raises_without_blocking(lambda: tc.read_index(index), "not a regular file")


# ---------------------------------------------------------------------------------------------
# Entries: where a tensor lies, its shape and size


@pytest.mark.parametrize("entry, message", [
    (_entry(offset=2**62), r"lies at bytes 4611686018427387904\.\.4611686018427387928 "
                           r"\(offset, size\) of .*holds only 24 bytes"),
    (_entry(shape=(2**20, 2**20)), r"\(offset, size\) of .*holds only 24 bytes"),
    (_entry(offset=2**63 - 1, shape=(2**30, 2**30)), r"\(offset, size\)"),
    (_entry(size=2**62), r"should take 24 bytes, but its index entry says 4611686018427387904"),
], ids=["offset", "size", "offset+size", "size-vs-shape"])
def test_an_entry_must_lie_inside_its_shard(tmp_path, entry, message):
    prefix = _bundle(tmp_path / "b", [(b"w", entry)])
    with pytest.raises(tc.CheckpointError, match=message):
        tc.Checkpoint(prefix)


def test_entries_must_not_overlap(tmp_path):
    # Overlapping tensors would let reading them all read more than the shard holds.
    entries = [(b"a", _entry(shape=(4,))), (b"b", _entry(shape=(4,), offset=8))]
    prefix = _bundle(tmp_path / "b", entries)
    with pytest.raises(tc.CheckpointError, match=r"tensor 'b' \(offset 8, size 16\) overlaps "
                                                 r"another tensor .* ends at byte 16"):
        tc.Checkpoint(prefix)


@pytest.mark.parametrize("dims, message", [
    ((2**32, 2**32), "the shape's element count overflows int64"),
    ((0, 2**62, 2**62), "the shape's element count overflows int64"),
    ((2**62,) * 1000, "the shape's element count overflows int64"),
    ((1,) * 255, r"the shape has more than 254 dimensions \(rank\)"),
    ((1,) * 100_000, r"the shape has more than 254 dimensions \(rank\)"),
], ids=["2**64", "zero-first", "1000-huge-dims", "rank-255", "rank-100000"])
def test_a_shape_is_bounded_while_it_is_parsed(tmp_path, dims, message):
    # 1,000 dims of 2**62 ended in a ValueError of Python's int-to-str limit (not a
    # CheckpointError), and 100,000 of them took half a minute of big-integer products.
    prefix = _bundle(tmp_path / "b", [(b"w", _entry(shape=dims, size=24))])
    with pytest.raises(tc.CheckpointError, match=message):
        tc.Checkpoint(prefix)


def test_a_tensor_larger_than_the_limit_is_refused(tmp_path, monkeypatch):
    # The shard's size is its st_size: a sparse file could declare terabytes for nothing.
    monkeypatch.setattr(limits, "MAX_TENSOR_BYTES", 16)
    prefix = _bundle(tmp_path / "b")
    with pytest.raises(tc.CheckpointError, match=r"takes 24 bytes \(size\), over the reader's "
                                                 r"limit of 16"):
        tc.Checkpoint(prefix)


def test_repeated_fields_do_not_pile_up(tmp_path):
    # 100,000 repeated dtype fields (200 kB): parsed one at a time, never held as a list (which
    # took tens of MB here, and gigabytes for an index at the size limit).
    prefix = _bundle(tmp_path / "b", [(b"w", _field(1, 0, 1) * 100_000 + _entry())])
    tracemalloc.start()
    try:
        assert tc.Checkpoint(prefix).entries["w"].shape == (2, 3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


def test_an_index_over_the_size_limit_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_INDEX_BYTES", 100)
    prefix = _bundle(tmp_path / "b")
    with pytest.raises(tc.CheckpointError, match="bytes is too large for a checkpoint index"):
        tc.Checkpoint(prefix)


# ---------------------------------------------------------------------------------------------
# The table: number of entries, length of keys, blocks


def _growing_keys(n: int) -> bytes:
    """``n`` entries whose keys grow by one byte each (each shares all of the previous key)."""
    return _raw_block(b"".join(_varint(i) + _varint(1) + _varint(0) + b"a" for i in range(n)))


def test_keys_are_bounded(tmp_path, monkeypatch):
    # Prefix compression lets 4 bytes per entry spell a key one byte longer than the last one:
    # n entries would make n**2 / 2 bytes of keys.
    prefix = _bundle(tmp_path / "long", data_block=_growing_keys(20_000))
    with pytest.raises(tc.CheckpointError, match="keys add up to more than "
                                                 f"{tc.MAX_KEYS_TOTAL_BYTES} bytes"):
        tc.read_index(prefix + ".index")
    monkeypatch.setattr(limits, "MAX_KEY_BYTES", 100)
    prefix = _bundle(tmp_path / "one", data_block=_growing_keys(200))
    with pytest.raises(tc.CheckpointError, match="has a key of 101 bytes, over the limit of 100"):
        tc.read_index(prefix + ".index")
    monkeypatch.setattr(limits, "MAX_KEYS_TOTAL_BYTES", 1000)
    prefix = _bundle(tmp_path / "total", data_block=_growing_keys(100))
    with pytest.raises(tc.CheckpointError, match="keys add up to more than 1000 bytes"):
        tc.read_index(prefix + ".index")


def test_the_number_of_entries_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_ENTRIES", 3)
    entries = [(bytes([ord("a") + i]), _entry(shape=(0,))) for i in range(3)]
    prefix = _bundle(tmp_path / "b", entries)  # 5 entries with the header and the index's
    with pytest.raises(tc.CheckpointError, match="the index holds more than 3 entries"):
        tc.read_index(prefix + ".index")


def test_data_blocks_must_not_overlap(tmp_path):
    # Index entries all naming one block would have it read and CRC-checked again and again.
    prefix = _bundle(tmp_path / "b", n_handles=2)
    with pytest.raises(tc.CheckpointError, match=r"data block 1 \(offset 0\) overlaps the block "
                                                 "before it"):
        tc.read_index(prefix + ".index")


# ---------------------------------------------------------------------------------------------
# The real musicnn checkpoint, made hostile


@pytest.fixture(scope="module")
def musicnn_folder() -> Path:
    try:
        return mn.musicnn_checkpoint_dir("MSD_musicnn")
    except mn.MusicnnError as exc:
        if IN_CI:
            pytest.fail(f"{exc} (CI=true requires the checkpoints)")
        pytest.skip(str(exc))


def _rewrite(src: Path, dst: Path, change) -> str:
    """Copy a real bundle, its index rebuilt (one data block) with ``change(entries)``."""
    dst.mkdir()
    entries = table_entries((src / ".index").read_bytes(), str(src))
    (dst / ".index").write_bytes(_table(change(list(entries))))
    (dst / ".data-00000-of-00001").symlink_to(src / ".data-00000-of-00001")
    return str(dst) + os.sep


def test_the_real_checkpoint_made_hostile(musicnn_folder, tmp_path):
    same = _rewrite(musicnn_folder, tmp_path / "same", lambda e: e)
    dense = tc.Checkpoint(same).read("dense/kernel")
    assert dense.shape == (1506, 200)
    np.testing.assert_array_equal(dense, tc.Checkpoint(str(musicnn_folder) + os.sep)
                                  .read("dense/kernel"))

    def shards(entries):
        assert entries[0][0] == b""
        entries[0] = (b"", _header(2**40))
        return entries

    with pytest.raises(tc.CheckpointError, match=r"num_shards = 1099511627776"):
        tc.Checkpoint(_rewrite(musicnn_folder, tmp_path / "shards", shards))

    size = os.path.getsize(musicnn_folder / ".data-00000-of-00001")

    def beyond(entries):
        i = [k for k, _ in entries].index(b"dense/kernel")
        entries[i] = (b"dense/kernel", _entry(shape=(1506, 200), offset=size))
        return entries

    with pytest.raises(tc.CheckpointError, match=rf"'dense/kernel' lies at bytes {size}\.\..*"
                                                 rf"\(offset, size\).*holds only {size} bytes"):
        tc.Checkpoint(_rewrite(musicnn_folder, tmp_path / "beyond", beyond))
