"""Command-line conventions: --version, python -m, --quiet everywhere, helpful descriptions."""

from __future__ import annotations

import subprocess
import sys

import pytest

import bag_of_songs
from bag_of_songs import cli
from bag_of_songs.cli import build_parser, main

COMMANDS = ("prepare", "features", "train", "evaluate", "predict", "run", "tag")


def _subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


def test_version_from_package_metadata(capsys):
    from importlib.metadata import version

    assert bag_of_songs.__version__ == version("bag-of-songs")
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"bag-of-songs {bag_of_songs.__version__}"


def test_python_dash_m_runs_the_command_line():
    proc = subprocess.run([sys.executable, "-m", "bag_of_songs", "--version"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith(bag_of_songs.__version__)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_a_description_and_quiet(command):
    p = _subparsers()[command]
    assert p.description and len(p.description) > 40
    options = {s for a in p._actions for s in a.option_strings}
    assert "--quiet" in options


def test_n_jobs_help_states_its_default():
    p = _subparsers()["features"]
    action = next(a for a in p._actions if "--n-jobs" in a.option_strings)
    assert "default -1" in action.help


def test_quiet_turns_bars_off_and_keeps_the_lines(monkeypatch, capsys):
    seen = {}

    def noisy(args):
        seen["quiet"] = args.quiet
        cli._log("== 1/3 a stage")
        raise ValueError("bad input")

    monkeypatch.setitem(cli._COMMANDS, "evaluate", noisy)
    assert main(["evaluate", "m", "d", "--quiet"]) == 2 and seen["quiet"] is True
    assert capsys.readouterr().err.splitlines() == ["== 1/3 a stage", "error: bad input"]


def test_library_log_records_show_while_a_command_runs(monkeypatch, capsys):
    """Records of the package's loggers are lines on stderr while a command runs (INFO and
    up, --quiet or not); afterwards the package is quiet again."""
    import logging

    logger = logging.getLogger("bag_of_songs.features")

    def logs(args):
        logger.info("extracting 3 clips")
        logger.warning("skipped a.wav: cannot decode")
        logger.debug("too fine")
        return 0

    monkeypatch.setitem(cli._COMMANDS, "evaluate", logs)
    assert main(["evaluate", "m", "d"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == ["extracting 3 clips",
                                              "skipped a.wav: cannot decode"]
    assert main(["evaluate", "m", "d", "--quiet"]) == 0
    assert capsys.readouterr().err.splitlines() == ["extracting 3 clips",
                                                     "skipped a.wav: cannot decode"]
    root = logging.getLogger("bag_of_songs")
    assert not root.handlers and root.level == logging.NOTSET


def test_predict_with_swapped_arguments_hints_at_the_order(tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text("{}")
    song = tmp_path / "song.wav"
    song.write_bytes(b"RIFF")
    assert main(["predict", str(song), str(model)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert "the model comes first" in err and "predict MODEL FILE" in err


def test_load_model_and_predict_file_import_from_the_package():
    from bag_of_songs import load_model, predict_file  # noqa: F401

    assert "load_model" in dir(bag_of_songs) and "predict_file" in bag_of_songs.__all__
