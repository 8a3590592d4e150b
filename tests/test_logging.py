"""The package's lines go through :mod:`logging` (bag_of_songs/_logging.py): module loggers at
the right level, Python's last-resort handler showing the skips (not the progress) when nothing
is configured, the deprecated ``log=`` callables still served, and the command line showing
both, each line once."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from bag_of_songs._logging import PACKAGE_LOGGER, forward_records
from bag_of_songs.data import prepare
from bag_of_songs.models import TabularDataset, select_model

ROOT = Path(__file__).resolve().parents[1]
GRID = [{"C": 1.0}]


def small_folder(root: Path) -> Path:
    """Two short tones per genre, and an empty file that prepare skips."""
    sr = 16000
    t = np.arange(int(0.3 * sr)) / sr
    for genre, freqs in {"pop": (300, 400), "rock": (500, 600)}.items():
        (root / genre).mkdir(parents=True, exist_ok=True)
        for k, f in enumerate(freqs):
            sf.write(root / genre / f"clip_{k}.wav", 0.3 * np.sin(2 * np.pi * f * t), sr)
    (root / "rock" / "empty.wav").write_bytes(b"")
    return root


def small_table(n_clips: int = 6, seed: int = 0) -> TabularDataset:
    """Two well-separated classes of ``n_clips`` clips each, one row per clip."""
    rng = np.random.default_rng(seed)
    rows = []
    for c, label in enumerate(("a", "b")):
        for k in range(n_clips):
            rows.append({"audio_file": f"train/audios/{label}_{k}.wav", "label": label,
                         "f1": 3.0 * c + rng.normal(), "f2": rng.normal()})
    return TabularDataset(pd.DataFrame(rows), label_column="label")


def test_records_come_from_module_loggers_with_their_level(tmp_path, caplog):
    """A skipped input is a WARNING of bag_of_songs.data.prepare_split; a cross-validation line
    is an INFO of bag_of_songs.models.selection; the messages are the lines of old."""
    src = small_folder(tmp_path / "src")
    with caplog.at_level(logging.INFO, logger=PACKAGE_LOGGER):
        prepare(src, tmp_path / "out", split="train", n_jobs=1, progress=False)
        select_model("logreg", small_table(), selection="cv", grid=GRID, n_jobs=1)
    (skip,) = [r for r in caplog.records if r.getMessage().startswith("skipped ")]
    assert skip.name == "bag_of_songs.data.prepare_split" and skip.levelno == logging.WARNING
    assert skip.getMessage().startswith("skipped rock/empty.wav: ")
    cv = [r for r in caplog.records if "CV macro F1" in r.getMessage()]
    assert cv and all(r.name == "bag_of_songs.models.selection" for r in cv)
    assert all(r.levelno == logging.INFO for r in cv)
    assert cv[0].getMessage().startswith("  {'C': 1.0}: CV macro F1 ")


def test_a_notebook_like_call_shows_skips_but_not_progress(tmp_path):
    """No logging configured (a notebook, a script): the skip is on stderr, the progress lines
    are not, and stdout stays clean."""
    small_folder(tmp_path / "src")
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_logging import GRID, small_table
        from bag_of_songs.data import prepare
        from bag_of_songs.models import select_model
        prepare({str(tmp_path / "src")!r}, {str(tmp_path / "out")!r}, split="train",
                n_jobs=1, progress=False)
        select_model("logreg", small_table(), selection="cv", grid=GRID, n_jobs=1)
        print("done")
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "done\n"
    lines = run.stderr.splitlines()
    assert any(ln.startswith("skipped rock/empty.wav: ") for ln in lines), run.stderr
    assert "CV macro F1" not in run.stderr


def test_a_log_callable_still_receives_the_lines(tmp_path):
    """The deprecated ``log=``: every line of the call (skips and progress), and after the call
    the package's logger is as it was."""
    logger = logging.getLogger(PACKAGE_LOGGER)
    handlers, level = list(logger.handlers), logger.level
    src = small_folder(tmp_path / "src")
    lines: list[str] = []
    prepare(src, tmp_path / "out", split="train", n_jobs=1, progress=False, log=lines.append)
    assert [ln for ln in lines if ln.startswith("skipped ")] == [
        ln for ln in lines if ln.startswith("skipped rock/empty.wav: ")] != []
    lines.clear()
    select_model("logreg", small_table(), selection="cv", grid=GRID, n_jobs=1,
                 log=lines.append)
    assert len(lines) == 1 and lines[0].startswith("  {'C': 1.0}: CV macro F1 ")
    assert logger.handlers == handlers and logger.level == level
    # Only for the duration of the call: nothing reaches the callable afterwards.
    logging.getLogger("bag_of_songs.data.prepare").warning("later")
    assert "later" not in lines


def test_forward_records_clears_progress_bars_around_each_line(monkeypatch):
    """The one handler writes each line inside tqdm's external_write_mode (bars on stderr are
    cleared and drawn again), and leaves DEBUG records out."""
    import tqdm

    entered = []

    @contextlib.contextmanager
    def write_mode(file=None, nolock=False):
        entered.append(file)
        yield

    monkeypatch.setattr(tqdm.tqdm, "external_write_mode", write_mode)
    lines: list[str] = []
    with forward_records(lines.append):
        logging.getLogger("bag_of_songs.features.compute").info("train: 2 clips reused")
        logging.getLogger("bag_of_songs.features.compute").debug("not shown")
    assert lines == ["train: 2 clips reused"]
    assert entered == [sys.stderr]


@pytest.mark.parametrize("quiet", [False, True])
def test_the_command_line_shows_the_info_lines_once(demo_dir, tmp_path, capsys, quiet):
    """`train --selection cv` prints the cross-validation lines (INFO) on stderr, --quiet or
    not, each once; the skips of `prepare` are shown too."""
    from bag_of_songs.cli import main

    argv = ["train", str(demo_dir), "--model", "logreg", "--label-column", "fst_level_label",
            "--selection", "cv", "--out", str(tmp_path / "model")]
    assert main(argv + (["--quiet"] if quiet else [])) == 0
    err = capsys.readouterr().err
    cv = [ln for ln in err.splitlines() if "CV macro F1" in ln]
    assert cv and len(cv) == len(set(cv))
    src = small_folder(tmp_path / "src")
    assert main(["prepare", str(src), "--out", str(tmp_path / "out"), "--split", "train",
                 "--n-jobs", "1", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert len([ln for ln in err.splitlines() if ln.startswith("skipped rock/empty.wav: ")]) == 1
