"""The entry point of the ``bag-of-songs`` command line: run one subcommand, and turn what
goes wrong into one line on stderr.

Bad input (every :class:`~bag_of_songs.errors.BagOfSongsError`, ``OSError``, ``ValueError``)
ends with ``error: ...`` and exit status 2, never a traceback. So does running out of memory (a
model or an input that asks for more than the machine has) and any other ``RuntimeError`` that
escapes a command. Ctrl-C ends with one line saying what the command keeps, and status 130.
"""

from __future__ import annotations

import warnings

from ..errors import BagOfSongsError
from ..presets import apply_preset
from .data_commands import _cmd_features, _cmd_prepare
from .model_commands import _cmd_evaluate, _cmd_predict, _cmd_train
from .output import EXIT_ERROR, _error, _library_log_lines, _one_line, _set_quiet
from .parser import build_parser
from .run import _cmd_run
from .tag_command import run as _cmd_tag

#: Each subcommand's function (``main`` looks the command up here when it runs).
_COMMANDS = {"prepare": _cmd_prepare, "features": _cmd_features, "train": _cmd_train,
             "evaluate": _cmd_evaluate, "predict": _cmd_predict, "run": _cmd_run,
             "tag": _cmd_tag}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bag-of-songs`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _fill_preset(parser, args)
    _set_quiet(getattr(args, "quiet", False))
    warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given")
    with _library_log_lines():
        return _run_command(args)


def _fill_preset(parser, args) -> None:
    """``--preset``: the options it names that were left at their defaults (one home:
    :data:`bag_of_songs.presets.PRESETS`)."""
    if getattr(args, "preset", None) is None:
        return
    command = parser.subcommands[args.command]
    apply_preset(args, {dest: command.get_default(dest) for dest in vars(args)})


def _run_command(args) -> int:
    """Run the command ``args`` name; what goes wrong ends as one line on stderr."""
    try:
        return _COMMANDS[args.command](args)
    # FeatureError and ModelError are ValueErrors: catching those here keeps torch unimported
    # for --help and the commands that do not need it.
    except (BagOfSongsError, OSError, ValueError) as exc:
        _error(f"error: {exc}")
        return EXIT_ERROR
    except MemoryError as exc:  # also numpy's _ArrayMemoryError ("Unable to allocate ...")
        _error(f"error: {_out_of_memory(args.command, exc)}")
        return EXIT_ERROR
    except RuntimeError as exc:  # torch's allocator and anything else a command did not expect
        if _is_out_of_memory(exc):
            _error(f"error: {_out_of_memory(args.command, exc)}")
        else:
            what = _one_line(exc) or "no message"
            _error(f"error: {args.command} failed: {type(exc).__name__}: {what}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _error(_INTERRUPTED.get(args.command, "interrupted"))
        return 130


#: What each command keeps when it is interrupted (Ctrl-C), said as it is.
_INTERRUPTED = {
    "prepare": "interrupted: the clips prepared so far are kept; run the same command again to "
               "resume",
    "features": "interrupted: the feature tables were not changed; the clips extracted so far "
                "are kept (.features.partial.*.jsonl in each split folder), and the same "
                "command run again extracts only the others",
    "train": "interrupted: no model was saved; run the command again to train from the start",
    "evaluate": "interrupted: nothing was written",
    "predict": "interrupted: the lines printed so far are complete; the other files were not "
               "predicted",
    "tag": "interrupted: the lines printed so far are complete; the other files were not "
           "tagged",
    "run": "interrupted: the clips prepared and the features extracted so far are kept, and "
           "the models trained so far are in OUT/models (no results.csv yet); the same command "
           "run again resumes from there",
}


def _is_out_of_memory(exc: BaseException) -> bool:
    """A ``RuntimeError`` that reports an allocation failure (torch's CPU and CUDA
    allocators)."""
    text = str(exc).lower()
    return type(exc).__name__ == "OutOfMemoryError" or any(
        s in text for s in ("out of memory", "can't allocate memory", "cannot allocate memory",
                            "unable to allocate"))


def _out_of_memory(command: str, exc: BaseException) -> str:
    detail = _one_line(exc)
    detail = f" ({detail[:300]})" if detail else ""
    return (f"out of memory while running {command}{detail}: the model or the input asks for "
            f"more memory than this machine has")

