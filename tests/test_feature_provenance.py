"""Issue 15, items 7 and 10: a feature table is tied to its clips (size and modification time
in ``features.json``), and an interrupted ``features`` run resumes clip by clip from a side file,
giving the same tables, byte for byte, as an uninterrupted run.

Every corpus here is a copy of the session's demo folder (``demo_dir``) with its own WAVs, so
that touching or replacing a clip never reaches the shared fixture.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from bag_of_songs import features as F
from bag_of_songs.cli import main as cli_main
from bag_of_songs.data import list_splits, prepare, read_annotations
from bag_of_songs.features import StaleFeaturesError
from bag_of_songs.features import compute as features_compute
from bag_of_songs.features import resume as features_resume
from bag_of_songs.models import read_features, train_on_folder

QUIET = {"n_jobs": 1, "progress": False, "log": lambda m: None}
STATS = ("mean", "std")  # not the demo tables' settings: a build changes every table


def _copy(demo_dir: Path, dst: Path) -> Path:
    """The demo folder copied (shutil.copy2: the clips keep their size and mtime, but are new
    files with their own inode and change time)."""
    shutil.copytree(demo_dir, dst, ignore=shutil.ignore_patterns(".bag-of-songs.lock"))
    return dst


@pytest.fixture
def corpus(demo_dir, tmp_path) -> Path:
    return _copy(demo_dir, tmp_path / "data")


def _tables(data: Path) -> dict:
    """The published table files, by path, with their bytes."""
    return {p.relative_to(data).as_posix(): p.read_bytes()
            for p in sorted(data.glob("*/features*"))}


def _partials(data: Path) -> list[str]:
    return sorted(p.relative_to(data).as_posix() for p in data.glob("*/.features.partial.*"))


def _clips(split_dir: Path) -> list[str]:
    return list(read_annotations(split_dir)["audio_file"])


class Extractions:
    """Counts (and records) the clips extracted; raises KeyboardInterrupt on call ``stop``.
    With ``memo``, a clip (by file name and settings) is extracted once and then recalled."""

    def __init__(self, monkeypatch, stop: int | None = None, memo: dict | None = None):
        self.paths: list[str] = []
        self.stop = stop
        real = F._features_for_file

        def extract(path, settings):
            if self.stop is not None and len(self.paths) + 1 == self.stop:
                raise KeyboardInterrupt  # Ctrl-C while this clip is being extracted
            self.paths.append(path)
            if memo is None:
                return real(path, settings)
            key = (Path(path).name, json.dumps(settings, sort_keys=True))
            if key not in memo:
                memo[key] = real(path, settings)
            return memo[key][0].copy(), memo[key][1]

        monkeypatch.setattr(features_compute, "_features_for_file", extract)

    def files(self, root: Path) -> list[str]:
        return [Path(p).relative_to(root.absolute()).as_posix() for p in self.paths]


# ---------------------------------------------------------------------------------------------
# Item 7: a clip replaced after `features` makes its table stale


def _replace(data: Path, victim: str, donor: str) -> None:
    """Copy the donor clip's bytes over the victim (a new file renamed into place, as `cp`
    through a temporary name would), with a modification time the victim never had."""
    mtime = (data / victim).stat().st_mtime_ns
    tmp = data / victim.replace(".wav", ".new")
    shutil.copyfile(data / donor, tmp)
    os.replace(tmp, data / victim)
    os.utime(data / victim, ns=(mtime + 7_000_000_000, mtime + 7_000_000_000))


def test_a_replaced_clip_makes_train_and_evaluate_refuse(corpus, tmp_path, capsys):
    train = corpus / "train"
    clips = _clips(train)
    victim, donor = clips[2], clips[5]
    F.check_feature_tables(corpus)
    _replace(corpus, victim, donor)
    stale = re.escape(victim) + r" changed since the table was built.*re-run `bag-of-songs " \
        + r"features " + re.escape(str(corpus)) + "`"
    with pytest.raises(StaleFeaturesError, match=stale):
        F.check_feature_table(train)
    with pytest.raises(StaleFeaturesError, match=re.escape(victim)):
        F.check_feature_tables(corpus)
    with pytest.raises(StaleFeaturesError, match=re.escape(victim)):
        read_features(train)  # what `evaluate` reads
    with pytest.raises(StaleFeaturesError, match=re.escape(victim)):
        train_on_folder(corpus, kind="logreg", label_column="fst_level_label", n_jobs=1,
                        log=lambda m: None)
    status = cli_main(["train", str(corpus), "--model", "logreg", "--label-column",
                       "fst_level_label", "--out", str(tmp_path / "model")])
    err = capsys.readouterr().err
    assert status == 2 and "error:" in err and victim in err and "Traceback" not in err
    assert not (tmp_path / "model").exists()
    # Other splits are not concerned; re-running `features` makes the table current, with
    # the donor's row for the victim.
    F.check_feature_table(corpus / "test")
    F.build_feature_tables(corpus, **QUIET)
    table = read_features(train)
    columns = table.attrs["feature_columns"]
    rows = table.set_index("audio_file")[columns]
    np.testing.assert_array_equal(rows.loc[victim].to_numpy(), rows.loc[donor].to_numpy())


def test_a_missing_or_touched_clip_is_refused(corpus):
    clips = _clips(corpus / "validation")
    (corpus / clips[0]).unlink()
    with pytest.raises(StaleFeaturesError, match=re.escape(clips[0]) + " is missing"):
        F.check_feature_table(corpus / "validation")
    clips = _clips(corpus / "test")
    st = (corpus / clips[-1]).stat()
    os.utime(corpus / clips[-1], ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # `touch`: refused
    with pytest.raises(StaleFeaturesError, match=re.escape(clips[-1]) + " changed"):
        F.check_feature_table(corpus / "test")


def test_a_clip_missing_at_build_time_that_appears_is_refused(corpus):
    split = corpus / "train"
    ann = read_annotations(split)
    ghost = "train/audios/later.wav"
    ann.loc[len(ann)] = {**ann.iloc[0].to_dict(), "audio_file": ghost}
    ann.to_csv(split / "annotations.csv", index=False)
    F.build_feature_table(split, **QUIET)  # left out, recorded as missing
    assert json.loads((split / "features.json").read_text())["clip_stamps"][ghost] is None
    F.check_feature_table(split)
    shutil.copy2(corpus / ann["audio_file"].iloc[0], corpus / ghost)
    with pytest.raises(StaleFeaturesError, match="later.wav, missing when the table was built"):
        F.check_feature_table(split)


def test_prepare_again_leaves_the_clips_and_tables_as_they_are(corpus):
    before = {f: (corpus / f).stat().st_mtime_ns for s in list_splits(corpus)
              for f in _clips(corpus / s)}
    report = prepare("demo", corpus, demo_size=5, **QUIET)
    assert report.reused == report.written  # the same command: every clip kept as it was
    assert {f: (corpus / f).stat().st_mtime_ns for f in before} == before
    F.check_feature_tables(corpus)


def test_a_table_without_or_with_garbled_clip_stamps_is_refused(corpus):
    path = corpus / "train" / "features.json"
    meta = json.loads(path.read_text())
    assert meta["format_version"] == F.FEATURES_FORMAT_VERSION == 3
    old = {k: v for k, v in meta.items() if k != "clip_stamps"}
    path.write_text(json.dumps({**old, "format_version": 2}))  # a table of the last version
    with pytest.raises(StaleFeaturesError, match=r"another version.*format 2.*re-run"):
        F.check_feature_table(corpus / "train")
    path.write_text(json.dumps(old))
    with pytest.raises(StaleFeaturesError, match=r"lacks or garbles.*clip_stamps"):
        F.check_feature_table(corpus / "train")
    first = next(iter(meta["clip_stamps"]))
    for bad in ([], "x", {first: [1]}, {first: [1, True]}, {first: [-1, 0]},
                {first: [1.5, 2]}, {first: "big"}, {first: [1, 2, 3]}):
        path.write_text(json.dumps({**meta, "clip_stamps": bad}))
        with pytest.raises(StaleFeaturesError, match=r"lacks or garbles.*clip_stamps"):
            F.check_feature_table(corpus / "train")
    # A crafted name never crashes the check: it is a missing clip.
    path.write_text(json.dumps({**meta, "clip_stamps": {"a\x00b": [1, 2]}}))
    with pytest.raises(StaleFeaturesError, match="is missing"):
        F.check_feature_table(corpus / "train")


def test_a_clip_changed_during_extraction_writes_nothing(corpus, monkeypatch):
    split = corpus / "train"
    victim = _clips(split)[0]
    before = _tables(corpus)
    real = F._features_for_file

    def touch_then_extract(path, settings):
        st = (corpus / victim).stat()
        os.utime(corpus / victim, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
        return real(path, settings)

    monkeypatch.setattr(features_compute, "_features_for_file", touch_then_extract)
    with pytest.raises(StaleFeaturesError, match=re.escape(victim) + ".*nothing was written"):
        F.build_feature_table(split, stats=STATS, **QUIET)
    assert _tables(corpus) == before and _partials(corpus) == []


# ---------------------------------------------------------------------------------------------
# Item 10: an interrupted `features` run resumes clip by clip


def test_interrupted_features_resume_per_clip_byte_identical(demo_dir, tmp_path, monkeypatch):
    reference = _copy(demo_dir, tmp_path / "reference")
    F.build_feature_tables(reference, stats=STATS, **QUIET)
    data = _copy(demo_dir, tmp_path / "data")
    before = _tables(data)
    n_train = len(_clips(data / "train"))
    total = sum(len(_clips(data / s)) for s in list_splits(data))
    assert len(_clips(data / "validation")) >= 2
    # Ctrl-C after the whole train split and 1 validation clip were extracted.
    first = Extractions(monkeypatch, stop=n_train + 2)
    with pytest.raises(KeyboardInterrupt):
        F.build_feature_tables(data, stats=STATS, **QUIET)
    assert len(first.paths) == n_train + 1
    assert _tables(data) == before  # the published tables change only all together
    assert [p.split("/")[0] for p in _partials(data)] == ["train", "validation"]
    monkeypatch.undo()
    logged: list[str] = []
    again = Extractions(monkeypatch)
    F.build_feature_tables(data, stats=STATS, n_jobs=1, progress=False, log=logged.append)
    # The finished clips were not extracted again; every other one was, once.
    assert len(again.paths) == total - (n_train + 1)
    assert set(again.files(data)).isdisjoint(first.files(data))
    assert f"train: {n_train} clips reused from an interrupted run" in logged[0]
    assert "validation: 1 clip reused" in logged[1]
    assert _tables(data) == _tables(reference)  # features.csv and features.json, byte for byte
    assert _partials(data) == []  # removed once published
    F.check_feature_tables(data)


def test_a_segment_table_resumes_byte_identical_through_worker_processes(demo_dir, tmp_path,
                                                                          monkeypatch):
    settings = {"stats": STATS, "segment": 3.0, "segment_hop": 1.5}
    reference = _copy(demo_dir, tmp_path / "reference")
    F.build_feature_table(reference / "train", **settings, **QUIET)
    data = _copy(demo_dir, tmp_path / "data")
    Extractions(monkeypatch, stop=5)
    with pytest.raises(KeyboardInterrupt):
        F.build_feature_table(data / "train", **settings, **QUIET)
    monkeypatch.undo()
    logged: list[str] = []
    F.build_feature_table(data / "train", **settings, n_jobs=2, progress=False,
                          log=logged.append)
    assert logged == [f"train: 4 clips reused from an interrupted run "
                      f"({F._partial_path(data / 'train', F.feature_settings(**settings)).name})"]
    for f in ("features.csv", "features.json"):
        assert (data / "train" / f).read_bytes() == (reference / "train" / f).read_bytes()
    assert _partials(data) == []


def _interrupted(split_dir: Path, monkeypatch, n: int, memo: dict | None = None,
                 **settings) -> Path:
    """Build the split's table, stopped after ``n`` clips; returns the side file."""
    Extractions(monkeypatch, stop=n + 1, memo=memo)
    with pytest.raises(KeyboardInterrupt):
        F.build_feature_table(split_dir, **settings, **QUIET)
    monkeypatch.undo()
    (partial,) = split_dir.glob(".features.partial.*.jsonl")
    return partial


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _edit_entry(line: bytes, **changes) -> bytes:
    entry = json.loads(line)
    entry.update(changes)
    return json.dumps(entry).encode() + b"\n"


def test_a_hostile_side_file_is_ignored_never_trusted_or_fatal(demo_dir, tmp_path,
                                                                monkeypatch):
    memo: dict = {}  # each clip is extracted once; the many rebuilds below recall it
    reference = _copy(demo_dir, tmp_path / "reference")
    Extractions(monkeypatch, memo=memo)
    F.build_feature_table(reference / "train", stats=STATS, **QUIET)
    monkeypatch.undo()
    want = (reference / "train" / "features.csv").read_bytes()
    data = _copy(demo_dir, tmp_path / "data")
    split = data / "train"
    n = len(_clips(split))
    partial = _interrupted(split, monkeypatch, 4, memo, stats=STATS)
    good = partial.read_bytes()
    header, *entries = _lines(partial)
    assert len(entries) == 4
    values = json.loads(entries[1])["values"]
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(good)
    nested = b"[" * 200_000 + b"\n"

    def replace_entry(i, line):
        return lambda p: p.write_bytes(b"".join([header, *entries[:i], line,
                                                 *entries[i + 1:]]))

    def setting(**changes):
        h = json.loads(header)
        h["settings"] = {**h["settings"], **changes}
        return json.dumps(h).encode() + b"\n"

    def link(p):
        p.unlink()
        p.symlink_to(outside)

    def fifo(p):
        p.unlink()
        os.mkfifo(p)

    cases = {  # name: (how the side file is spoilt, clips reused)
        "garbage": (lambda p: p.write_bytes(os.urandom(3000)), 0),
        "binary header": (lambda p: p.write_bytes(b"\xff\xfe" + good), 0),
        "other settings": (lambda p: p.write_bytes(b"".join([setting(n_mfcc=12),
                                                             *entries])), 0),
        "other version": (lambda p: p.write_bytes(header.replace(
            b'"library_version":"', b'"library_version":"0.') + b"".join(entries)), 0),
        "NaN": (replace_entry(1, _edit_entry(entries[1], values=[[*values[0][:-1],
                                                                  float("nan")]])), 3),
        "Infinity": (replace_entry(1, entries[1].replace(b"[[", b"[[Infinity,", 1)), 3),
        "too few columns": (replace_entry(1, _edit_entry(entries[1],
                                                         values=[values[0][:-1]])), 3),
        "two rows": (replace_entry(1, _edit_entry(entries[1], values=values * 2)), 3),
        "no rows": (replace_entry(1, _edit_entry(entries[1], values=[])), 3),
        "a bool": (replace_entry(1, _edit_entry(entries[1],
                                                values=[[True, *values[0][1:]]])), 3),
        "a string": (replace_entry(1, _edit_entry(entries[1],
                                                  values=[["1.0", *values[0][1:]]])), 3),
        "a huge number": (replace_entry(1, _edit_entry(entries[1],
                                                       values=[[10**400, *values[0][1:]]])), 3),
        "a huge int": (replace_entry(1, entries[1].replace(b"[[", b"[[" + b"9" * 5000 + b",",
                                                           1)), 3),
        "other clip identity": (replace_entry(1, _edit_entry(
            entries[1], clip=[json.loads(entries[1])["clip"][0] + 1,
                              *json.loads(entries[1])["clip"][1:]])), 3),
        "unknown clip": (replace_entry(1, _edit_entry(entries[1], file="train/x.wav")), 3),
        "extra key": (replace_entry(1, _edit_entry(entries[1], extra=1)), 3),
        "not an object": (replace_entry(1, b"[1, 2]\n"), 3),
        "nested": (lambda p: p.write_bytes(b"".join([header, entries[0], nested,
                                                     *entries[1:]])), 4),
        "torn last line": (lambda p: p.write_bytes(good[:-40]), 3),
        "oversized": (lambda p: monkeypatch.setattr(features_resume, "_PARTIAL_MAX_BYTES",
                                                    len(good) - 1), 0),
        "over-long line": (lambda p: monkeypatch.setattr(features_resume, "_PARTIAL_MAX_LINE",
                                                         100), 0),
        "symbolic link": (link, 0),
        "fifo": (fifo, 0),
        "folder": (lambda p: (p.unlink(), p.mkdir()), 0),
    }
    for name, (spoil, reused) in cases.items():
        for p in split.glob(".features.partial.*"):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        partial.write_bytes(good)
        spoil(partial)
        calls = Extractions(monkeypatch, memo=memo)
        F.build_feature_table(split, stats=STATS, **QUIET)
        monkeypatch.undo()
        assert len(calls.paths) == n - reused, name
        assert (split / "features.csv").read_bytes() == want, name
        F.check_feature_table(split)
    assert outside.read_bytes() == good  # a link is never followed, for reading or writing


def test_a_side_file_from_another_copy_is_not_reused(demo_dir, tmp_path, monkeypatch):
    """A folder copied or unpacked elsewhere (new inodes and change times): its side file is
    someone else's, and nothing in it is used, even with the same sizes and mtimes."""
    data = _copy(demo_dir, tmp_path / "data")
    _interrupted(data / "train", monkeypatch, 5)
    other = tmp_path / "other"
    shutil.copytree(data, other)  # copy2: the same sizes and modification times
    assert _partials(other) == _partials(data)
    calls = Extractions(monkeypatch)
    F.build_feature_table(other / "train", **QUIET)
    assert len(calls.paths) == len(_clips(other / "train"))
    assert (other / "train" / "features.csv").read_bytes() == (
        demo_dir / "train" / "features.csv").read_bytes()


def test_a_changed_clip_is_extracted_again_and_other_settings_progress_is_dropped(
        demo_dir, tmp_path, monkeypatch):
    data = _copy(demo_dir, tmp_path / "data")
    split = data / "train"
    clips = _clips(split)
    first = _interrupted(split, monkeypatch, 4)
    second = _interrupted(split, monkeypatch, 2, stats=STATS)  # other settings
    assert first != second and not first.exists() and second.exists()
    _interrupted(split, monkeypatch, 4)  # back to the first settings: starts over
    assert not second.exists()
    st = (data / clips[1]).stat()
    os.utime(data / clips[1], ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    calls = Extractions(monkeypatch)
    F.build_feature_table(split, **QUIET)
    assert calls.files(data) == [clips[1], *clips[4:]]
    assert (split / "features.csv").read_bytes() == (
        demo_dir / "train" / "features.csv").read_bytes()
    assert _partials(data) == []


def test_side_file_floats_round_trip_exactly(rng):
    columns = ["a", "b", "c", "d", "e", "f", "g", "h"]
    tricky = [0.1, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
              1 / 3, -2.5e-310, 123456789.12345679]
    randoms = [struct.unpack("<d", struct.pack("<Q", int(x)))[0]
               for x in rng.integers(0, 2**63, size=4000, dtype=np.uint64)]
    randoms = [x for x in randoms if np.isfinite(x)]
    for row in [tricky, *(randoms[i:i + 8] for i in range(0, len(randoms) - 8, 8))]:
        d = dict(zip(columns, row, strict=True))
        values = F._row_values(d, columns, False)
        line = F._partial_line("x.wav", [1, 2, 3, 4], values)
        back = F._values_row(json.loads(line)["values"], columns, False)
        assert [struct.pack("<d", v) for v in back.values()] == [
            struct.pack("<d", v) for v in row]
