"""The ``tag`` subcommand: musicnn's own tags of audio files, with no training.

:func:`add_parser` registers ``tag FILE_OR_FOLDER... [--model MSD_musicnn|MTT_musicnn]
[--top 5] [--json]``; :func:`run` runs it. Each file's tags come from
:func:`bag_of_songs.embeddings.musicnn.tags.tag_file` (the same top tags as musicnn's own
tagger). A file that cannot be decoded gives one ``error: ...`` line on stderr and exit status
2 once the other files are done, as ``predict`` does.

Explained in ``notebooks/5-pretrained-embeddings.ipynb``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import AudioLoadError
from .model_commands import _audio_files
from .output import EXIT_ERROR, _error, _quote_name

# The library (and torch) is imported when the command runs, not here, so that `bag-of-songs
# --help` stays fast. The model names mirror bag_of_songs.embeddings.musicnn.MODELS (a test
# checks they agree).
MODELS = ("MSD_musicnn", "MTT_musicnn")
#: Tags per model (the most --top can ask for).
N_TAGS = 50

__all__ = ["add_parser", "run"]


def _top(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 1 <= n <= N_TAGS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {N_TAGS}, got {n}")
    return n


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``tag`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Parameters
    ----------
    subparsers : argparse._SubParsersAction

    Returns
    -------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    p = subparsers.add_parser(
        "tag", help="musicnn's own tags of audio files (or of every file in a folder), no "
                    "training",
        description="Print musicnn's top tags of each FILE with their scores, as musicnn's own "
                    "tagger gives them (the whole file at 16 kHz in 3 s patches, each tag's "
                    "probability averaged over the patches): a line 'FILE: tag score, ...' per "
                    "file, or for a folder a tab-separated table with a header (file, then "
                    "tag_1, score_1, tag_2, ...). File names are printed escaped as by "
                    "`ls --quoting-style=escape`, so that each file is one line (--json writes "
                    "the name as a JSON string instead). No model is trained: the tags are "
                    "those of the pretrained network (needs `pip install --no-deps "
                    "musicnn==0.1.0` for its checkpoints).")
    p.add_argument("files", nargs="+", metavar="FILE_OR_FOLDER",
                   help="audio files (wav, flac, ogg, mp3) or folders (every audio file below, "
                        "sorted)")
    p.add_argument("--model", choices=MODELS, default="MSD_musicnn",
                   help="MSD_musicnn (default: Last.fm tags of a million songs, genres and "
                        "decades) or MTT_musicnn (MagnaTagATune: instruments, moods, a few "
                        "genres such as classical and techno)")
    p.add_argument("--top", type=_top, default=5, metavar="N",
                   help=f"how many tags per file, best first (default 5, at most {N_TAGS})")
    p.add_argument("--json", action="store_true",
                   help='one JSON object per line: {"file", "model", "n_patches", "tags": '
                        '[{"tag", "score"}, ...] best first}')
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bars (tag draws none; errors still show)")
    return p


def run(args) -> int:
    """Run ``tag``: print each file's top tags; 0, or 2 when a file could not be tagged.

    Parameters
    ----------
    args : argparse.Namespace
        From the parser :func:`add_parser` registered.

    Returns
    -------
    status : int
        0 when every file was tagged, else :data:`~.output.EXIT_ERROR` (each failure has
        printed its ``error: ...`` line).
    """
    from ..embeddings.musicnn.tags import tag_file

    try:
        files = _audio_files(args.files)
    except ValueError as exc:  # a folder with no audio files
        _error(f"error: {_quote_name(str(exc))}")
        return EXIT_ERROR
    table = any(Path(f).is_dir() for f in args.files) and not args.json
    if table:
        print("\t".join(["file", *(f"{c}_{i}" for i in range(1, args.top + 1)
                                   for c in ("tag", "score"))]), flush=True)
    status = 0
    for f in files:
        try:
            result = tag_file(f, model=args.model, top=args.top)
        except AudioLoadError as exc:
            _error(f"error: {_quote_name(str(exc))}")  # on one line, the name as on stdout
            status = EXIT_ERROR
            continue
        pairs = list(zip(result.tags, result.scores, strict=True))
        if args.json:
            print(json.dumps({**result.as_dict(), "file": str(f)}, allow_nan=False),
                  flush=True)
        elif table:
            print("\t".join([_quote_name(f), *(v for t, s in pairs for v in (t, f"{s:.4f}"))]),
                  flush=True)
        else:
            ranked = ", ".join(f"{t} {s:.3f}" for t, s in pairs)
            print(f"{_quote_name(f)}: {ranked}", flush=True)
    return status
