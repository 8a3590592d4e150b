"""``prepare`` on folders it did not write and on names it cannot write (issue 15, items 6
and 8): it refuses a folder of someone's own files, removes only what a recorded run wrote,
and skips (and lists) a file whose name is not UTF-8 instead of stopping."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from bag_of_songs.cli import main
from bag_of_songs.data import (
    LOCK_NAME,
    DataSourceError,
    list_splits,
    prepare,
    read_annotations,
    read_skipped,
)

QUIET = {"progress": False, "log": lambda msg: None}


def write_folder(root: Path, spec: dict[str, int], *, sr: int = 16000) -> Path:
    """ROOT/<genre>/clip_<k>.wav: ``spec[genre]`` short tones per genre."""
    for g, (genre, n) in enumerate(spec.items()):
        (root / genre).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            write_tone(root / genre / f"clip_{k}.wav", 300 + 100 * g + 20 * k, sr=sr)
    return root


def write_tone(path: str | os.PathLike | bytes, freq: float, *, sr: int = 16000) -> None:
    t = np.arange(int(0.3 * sr)) / sr
    sf.write(path, (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr)


def tree(root: Path) -> dict[str, bytes]:
    """Every file and folder under ``root`` (the lock file included): its bytes, or None."""
    return {os.fsdecode(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


# ---------------------------------------------------------------------------------------------
# Item 6: a folder that prepare did not write


def users_folder(tmp_path: Path) -> Path:
    """A folder of someone's own files, named like files prepare writes."""
    out = tmp_path / "mine"
    (out / "test" / "audios").mkdir(parents=True)
    (out / "test" / "features.csv").write_text("my,own,table\n1,2,3\n")
    (out / "test" / "audios" / "audio_test_9.wav").write_bytes(b"RIFF my own recording")
    (out / "audio_test_9.wav").write_bytes(b"RIFF another recording")
    (out / "notes.txt").write_text("my notes")
    return out


def test_prepare_refuses_a_non_empty_folder_without_prepare_json(tmp_path, capsys):
    src = write_folder(tmp_path / "src", {"pop": 2, "rock": 2})
    out = users_folder(tmp_path)
    before = tree(out)
    with pytest.raises(DataSourceError, match=r"not empty .* holds no prepare.json") as exc:
        prepare(src, out, split="test", n_jobs=1, **QUIET)
    assert str(out) in str(exc.value) and "empty or new folder" in str(exc.value)
    assert tree(out) == before  # nothing removed, overwritten or added (not even a lock file)

    for argv in (["prepare", str(src), "--out", str(out), "--split", "test"],
                 ["prepare", str(src), "--out", str(out)],
                 ["run", "--source", str(src), "--out", str(out), "--models", "svc"]):
        capsys.readouterr()
        status = main([*argv, "--quiet", "--n-jobs", "1"])
        captured = capsys.readouterr()
        assert status == 2 and captured.out == ""
        lines = captured.err.strip().splitlines()
        assert lines[-1].startswith("error: "), captured.err  # after `run`'s stage line
        assert sum(line.startswith("error") for line in lines) == 1
        assert str(out) in lines[-1] and "empty or new folder" in lines[-1]
        assert "Traceback" not in captured.err
        assert tree(out) == before


def test_an_empty_folder_or_one_with_only_a_lock_file_is_fine(tmp_path):
    src = write_folder(tmp_path / "src", {"pop": 1, "rock": 1})
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text("prepare, pid 1\n")
    assert prepare(src, out, split="train", n_jobs=1, **QUIET).written == {"train": 2}


def test_a_split_folder_that_prepare_json_does_not_list_is_refused(tmp_path):
    src = write_folder(tmp_path / "src", {"pop": 2, "rock": 2})
    out = tmp_path / "out"
    prepare(src, out, split="train", n_jobs=1, **QUIET)
    (out / "extra" / "audios").mkdir(parents=True)
    (out / "extra" / "annotations.csv").write_text("audio_file,label\nmy.wav,jazz\n")
    (out / "extra" / "audios" / "audio_extra_0.wav").write_bytes(b"mine")
    before = tree(out / "extra")
    with pytest.raises(DataSourceError, match=r"extra.*no earlier run of prepare wrote"):
        prepare(src, out, split="extra", n_jobs=1, **QUIET)
    assert tree(out / "extra") == before


def test_only_files_a_recorded_run_wrote_are_removed(tmp_path):
    src = write_folder(tmp_path / "src", {"pop": 4, "rock": 4})
    out = tmp_path / "out"
    prepare(src, out, splits="train=0.5,test=0.5", seed=1, n_jobs=1, **QUIET)
    record = json.loads((out / "prepare.json").read_text())
    assert {s: r["clips"] for s, r in record["splits"].items()} == {"train": 4, "test": 4}
    # The user's files, named as prepare names its own: a clip past the recorded ones in a
    # recorded split, and a split folder that no run recorded (with an annotations.csv).
    mine = out / "test" / "audios" / "audio_test_9.wav"
    mine.write_bytes(b"RIFF mine")
    (out / "other" / "audios").mkdir(parents=True)
    (out / "other" / "annotations.csv").write_text(
        "audio_file,label\nother/audios/audio_other_0.wav,jazz\n")
    (out / "other" / "audios" / "audio_other_0.wav").write_bytes(b"RIFF mine too")
    other = tree(out / "other")

    report = prepare(src, out, splits="train=0.5,validation=0.5", seed=1, n_jobs=1, **QUIET)
    assert set(report.written) == {"train", "validation"}
    assert mine.read_bytes() == b"RIFF mine"
    assert sorted(p.name for p in (out / "test" / "audios").iterdir()) == ["audio_test_9.wav"]
    assert not (out / "test" / "annotations.csv").exists()
    assert tree(out / "other") == other
    assert "other" in list_splits(out)
    assert sorted(json.loads((out / "prepare.json").read_text())["splits"]) == [
        "train", "validation"]

    # A corpus that shrank: the clip no longer listed goes, the user's clip stays.
    (out / "train" / "audios" / "audio_train_99.wav").write_bytes(b"RIFF mine as well")
    (src / "rock" / "clip_3.wav").unlink()
    prepare(src, out, split="train", n_jobs=1, **QUIET)
    names = sorted(p.name for p in (out / "train" / "audios").iterdir())
    assert names == [*(f"audio_train_{i}.wav" for i in range(7)), "audio_train_99.wav"]


def test_a_record_of_an_older_version_without_clip_counts_still_works(tmp_path):
    src = write_folder(tmp_path / "src", {"pop": 3, "rock": 3})
    out = tmp_path / "out"
    prepare(src, out, split="train", n_jobs=1, **QUIET)
    record = json.loads((out / "prepare.json").read_text())
    for run in record["splits"].values():
        del run["clips"]
    (out / "prepare.json").write_text(json.dumps(record))
    (src / "rock" / "clip_2.wav").unlink()
    report = prepare(src, out, split="train", n_jobs=1, **QUIET)
    assert report.reused == {"train": 5}
    # The clip the old annotations listed and the new ones do not is removed.
    assert sorted(p.name for p in (out / "train" / "audios").iterdir()) == [
        f"audio_train_{i}.wav" for i in range(5)]
    assert json.loads((out / "prepare.json").read_text())["splits"]["train"]["clips"] == 5


def test_an_interrupted_first_run_is_recorded_and_resumes(tmp_path, monkeypatch):
    from bag_of_songs.data import decode

    src = write_folder(tmp_path / "src", {"pop": 3, "rock": 3})
    out = tmp_path / "out"
    real = decode._decode_item
    calls = []

    def interrupted(item):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(item)
        return real(item)

    monkeypatch.setattr(decode, "_decode_item", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(src, out, split="train", n_jobs=1, **QUIET)
    monkeypatch.setattr(decode, "_decode_item", real)
    assert json.loads((out / "prepare.json").read_text())["splits"]["train"]["clips"] == 6
    report = prepare(src, out, split="train", n_jobs=1, **QUIET)
    assert report.reused == {"train": 2} and report.written == {"train": 6}


def test_a_split_folder_that_is_a_symbolic_link_is_refused(tmp_path):
    src = write_folder(tmp_path / "src", {"pop": 2, "rock": 2})
    out = tmp_path / "out"
    prepare(src, out, split="train", n_jobs=1, **QUIET)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "audios").mkdir(parents=True)
    (elsewhere / "audios" / "audio_train_0.wav").write_bytes(b"not yours")
    before = tree(elsewhere)
    # A corpus folder received from someone else: its split folder leads out of it.
    (out / "train" / "audios").rename(tmp_path / "moved")
    (out / "train" / "audios").symlink_to(elsewhere / "audios")
    with pytest.raises(DataSourceError, match="symbolic link"):
        prepare(src, out, split="train", n_jobs=1, **QUIET)
    assert tree(elsewhere) == before


# ---------------------------------------------------------------------------------------------
# Item 8: a file name that is not UTF-8


def test_a_name_that_is_not_utf8_is_skipped_and_listed(tmp_path, capsys):
    src = write_folder(tmp_path / "src", {"pop": 2, "rock": 2})
    bad_file = os.fsencode(src / "rock") + b"/caf\xe9.wav"  # Latin-1 bytes
    write_tone(bad_file, 900)
    os.mkdir(os.fsencode(src) + b"/j\xe4zz")  # a genre folder named in Latin-1
    write_tone(os.fsencode(src) + b"/j\xe4zz/tune.wav", 700)
    write_tone(src / "rock" / "tab\there.wav", 800)  # valid UTF-8: prepared as usual
    out = tmp_path / "out"
    report = prepare(src, out, split="train", n_jobs=1, **QUIET)

    assert report.written == {"train": 5}
    ann = read_annotations(out / "train")
    assert sorted(ann["source"]) == ["pop/clip_0.wav", "pop/clip_1.wav", "rock/clip_0.wav",
                                     "rock/clip_1.wav", "rock/tab\there.wav"]
    skipped = read_skipped(out)
    assert sorted(skipped["source"]) == ["j\\xe4zz/tune.wav", "rock/caf\\xe9.wav"]
    reasons = dict(zip(skipped["source"], skipped["reason"], strict=True))
    assert "name is not valid UTF-8" in reasons["rock/caf\\xe9.wav"]
    assert "label (from a folder name) is not valid UTF-8" in reasons["j\\xe4zz/tune.wav"]
    assert all("rename" in r for r in reasons.values())
    raw = (out / "train" / "skipped.csv").read_bytes()
    raw.decode("utf-8")  # the file is UTF-8 throughout
    assert b"caf\\xe9.wav" in raw
    # A second run resumes and lists the same.
    again = prepare(src, out, split="train", n_jobs=1, **QUIET)
    assert again.reused == {"train": 5} and len(again.skipped["train"]) == 2

    # Through the command line: exit 0, the skipped inputs named in the log, no traceback.
    capsys.readouterr()
    assert main(["prepare", str(src), "--out", str(tmp_path / "cli"), "--split", "train",
                 "--quiet", "--n-jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert "skipped rock/caf\\xe9.wav" in err and "Traceback" not in err
    table = pd.read_csv(tmp_path / "cli" / "train" / "skipped.csv")
    assert len(table) == 2
