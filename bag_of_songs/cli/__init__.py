"""The ``bag-of-songs`` command line: prepare, features, train, evaluate, predict, run.

Every subcommand prints its progress to stderr and its results to stdout; bad input ends with
one line ``error: ...`` on stderr and exit status 2, never a traceback. So does running out of
memory (a model or an input that asks for more than the machine has) and any other
``RuntimeError`` that escapes a command.

One job per module, dependencies running down this list:

- :mod:`.output`: progress and error lines on stderr (``--quiet``), file names on one line.
- :mod:`.parser`: :func:`build_parser`, the subcommands' options and their checks.
- :mod:`.data_commands`: ``prepare`` and ``features``.
- :mod:`.model_commands`: ``train``, ``evaluate`` and ``predict``.
- :mod:`.run`: ``run``, the whole pipeline.
- :mod:`.entry`: :func:`main`, the table of subcommands (``_COMMANDS``), the error lines and the
  interruption messages (``_INTERRUPTED``).

``python -m bag_of_songs`` and ``python -m bag_of_songs.cli`` run :func:`main` too.
"""

from __future__ import annotations

from .data_commands import (  # noqa: F401 (private names importable as before)
    _cmd_features,
    _cmd_prepare,
    _features,
    _prepare,
)
from .entry import (  # noqa: F401 (private names importable as before)
    _COMMANDS,
    _INTERRUPTED,
    _is_out_of_memory,
    _out_of_memory,
    main,
)
from .model_commands import (  # noqa: F401 (private names importable as before)
    _cmd_evaluate,
    _cmd_predict,
    _cmd_train,
)
from .output import (  # noqa: F401 (private names importable as before)
    EXIT_ERROR,
    _error,
    _log,
    _one_line,
    _quote_name,
)
from .parser import DEFAULT_MODELS, KINDS, build_parser
from .run import _cmd_run  # noqa: F401 (importable as before)

__all__ = ["DEFAULT_MODELS", "EXIT_ERROR", "KINDS", "build_parser", "main"]
