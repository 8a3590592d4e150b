"""The ``bag-of-songs`` command line: prepare, features, train, evaluate, predict, run.

Every subcommand prints its progress to stderr and its results to stdout; bad input ends with
one line ``error: ...`` on stderr and exit status 2, never a traceback. So does running out of
memory (a model or an input that asks for more than the machine has) and any other
``RuntimeError`` that escapes a command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

from ._version import __version__
from .data import AudioLoadError
from .errors import BagOfSongsError

EXIT_ERROR = 2

#: Model kinds the command line knows (mirrors bag_of_songs.models.MODEL_KINDS without
#: importing torch for --help).
KINDS = ("mlp", "svc", "rf", "logreg", "cnn", "hybrid")
DEFAULT_MODELS = "mlp,svc,rf"


def _n_jobs(text: str) -> int:
    n = int(text)
    if n == 0:
        raise argparse.ArgumentTypeError("must be a positive count, or negative (-1: all cores)")
    return n


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not 0 < v <= 3600 or v != v:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return v


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-jobs", type=_n_jobs, default=-1,
                   help="worker processes for decoding and feature extraction (default -1: all "
                        "cores; never more than there are clips)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run decoding and feature extraction on an existing Dask cluster, e.g. "
                        "tcp://10.0.0.5:8786 (default: $BAG_OF_SONGS_SCHEDULER, else local "
                        "processes; needs pip install 'bag-of-songs[dask]')")
    _add_quiet(p)


def _add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bars or progress lines on stderr (skipped inputs, warnings "
                        "and errors still show)")


def _add_prepare_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--split", metavar="NAME",
                   help="put the whole source into this one split (e.g. test); other splits in "
                        "--out are left alone")
    g.add_argument("--splits", metavar="SPEC", default=None,
                   help="stratified, seeded fractions for folder and demo sources (and datasets "
                        "with a single split), default train=0.8,validation=0.1,test=0.1")
    p.add_argument("--label-column", metavar="COL",
                   help="label column of a Hugging Face dataset (default: the CCMusic levels "
                        "when present, else 'label'); for a flat folder, the name of its genre "
                        "column (default 'label')")
    p.add_argument("--levels", metavar="COLS",
                   help="nested folder source ROOT/<level 1>/<level 2>/.../<file>: the label "
                        "column of each depth, comma-separated, coarse to fine (e.g. "
                        "fst_level_label,sec_level_label,thr_level_label), or a depth (e.g. 3: "
                        "level_1, level_2, level_3)")
    p.add_argument("--revision", metavar="REV",
                   help="hub revision (for ccmusic, default: the known revisions that still "
                        "have its loading script, tried in order)")
    p.add_argument("--config", metavar="NAME", help="configuration (subset) of a hub dataset")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="let a hub dataset run its loading script (only for datasets you trust; "
                        "always on for ccmusic, whose default subset needs it)")
    p.add_argument("--dataset-path", metavar="PATH",
                   help="with source ccmusic: a local copy of the corpus (a save_to_disk folder, "
                        "e.g. from ModelScope, or the extracted audio.zip) instead of the hub")
    p.add_argument("--demo-size", type=_positive, default=20, metavar="N",
                   help="demo corpus: clips per style (4 styles; default 20)")
    p.add_argument("--classic", metavar="GENRES",
                   help="flat folder source: comma-separated genre folders that are Classic "
                        "(default: classical, classic, symphony, opera, solo, chamber, ...)")
    p.add_argument("--group-by", metavar="COL",
                   help="folder source: keep clips sharing this column of the manifest (e.g. "
                        "artist) in one split, for honest evaluation")
    p.add_argument("--manifest", metavar="CSV",
                   help="with --group-by: a CSV with 'path' (relative to the folder) and COL "
                        "(default: FOLDER/manifest.csv)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the split and of every model (default 0)")


def _add_feature_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stats", default="mean", metavar="LIST",
                   help="pooling statistics over frames, comma-separated from mean, std, median, "
                        "min, max (default: mean, the study's 32 columns)")
    # The choices of bag_of_songs.features.TABLE_FEATURE_SETS and MUSICNN_LAYERS (not imported,
    # so that --help stays fast; a test checks they agree).
    p.add_argument("--feature-set", default="seed",
                   choices=("seed", "extended", "musicnn", "seed+musicnn", "extended+musicnn"),
                   help="seed: the study's nine features (default); extended: adds spectral "
                        "contrast, flatness, onset strength, tempo and MFCC deltas; musicnn: "
                        "the embedding of the pretrained musicnn network (mean over 3 s "
                        "patches; about 0.3 s per clip and core; needs pip install --no-deps "
                        "musicnn==0.1.0); seed+musicnn, extended+musicnn: both side by side")
    p.add_argument("--musicnn-model", choices=("MSD_musicnn", "MTT_musicnn"), default=None,
                   help="with a musicnn feature set: MSD_musicnn (default; trained on the "
                        "Million Song Dataset) or MTT_musicnn (MagnaTagATune)")
    p.add_argument("--musicnn-layer", default=None,
                   choices=("penultimate", "mean_pool", "max_pool", "taggram"),
                   help="with a musicnn feature set: penultimate (default, 200 values, "
                        "recommended), mean_pool or max_pool (753 each), taggram (50 tag "
                        "probabilities)")
    p.add_argument("--n-mfcc", type=_positive, default=13, metavar="N",
                   help="MFCCs, 1 to 128 (default 13)")
    p.add_argument("--segment", type=_seconds, default=None, metavar="S",
                   help="texture windows: one row per segment of S seconds (e.g. 3) instead of "
                        "one per clip; models then decide a clip by the mean of its segments' "
                        "probabilities (default: whole clips, as in the study)")
    p.add_argument("--segment-hop", type=_seconds, default=None, metavar="S",
                   help="hop between segments in seconds (default: the segment length, no "
                        "overlap)")


def _add_cnn_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cnn and hybrid models (log-mel spectrogram CNN)")
    g.add_argument("--epochs", type=_positive, default=30, metavar="N",
                   help="at most N epochs, early-stopped on the validation clips (default 30)")
    g.add_argument("--crops-per-clip", type=_positive, default=4, metavar="N",
                   help="random 3 s crops of each training clip per epoch (default 4)")
    g.add_argument("--n-mels", type=_positive, default=96, metavar="N",
                   help="mel bands of the spectrogram (default 96)")
    g.add_argument("--device", default="auto",
                   help="auto (a GPU when torch sees one, default), cpu, cuda...")


def _spectrogram_options(args) -> dict:
    return {"epochs": args.epochs, "crops_per_clip": args.crops_per_clip,
            "device": args.device, "spectrogram": {"n_mels": args.n_mels}}


def _add_selection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--selection", choices=("auto", "cv", "split"), default="auto",
                   help="how hyper-parameters (and MLP epochs) are chosen: cv = 5-fold "
                        "cross-validation over train + validation with folds that keep clips "
                        "(and --group-by groups) whole; split = the validation split; auto "
                        "(default) = cv below 1,000 clips, else split")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bag-of-songs",
        description="Music-genre classification from hand-crafted audio features.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "prepare", help="decode a source into 30 s mono 22,050 Hz WAVs plus annotations.csv",
        description="Decode every clip of SOURCE, mix to mono, resample to 22,050 Hz, crop/pad "
                    "to 30 s and write OUT/<split>/audios/*.wav and OUT/<split>/annotations.csv. "
                    "Undecodable inputs are skipped and listed in OUT/<split>/skipped.csv. "
                    "Re-running resumes.")
    p.add_argument("source", metavar="SOURCE",
                   help="'demo' (synthetic, offline), 'ccmusic', a folder of genre subfolders "
                        "(flat or nested), a local Hugging Face dataset folder, or a hub id")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder (not inside SOURCE)")
    _add_prepare_options(p)
    _add_common(p)

    p = sub.add_parser("features", help="extract the feature table of every split under DIR",
                       description="Write DIR/<split>/features.csv for every prepared split.")
    p.add_argument("data_dir", metavar="DIR", help="a folder written by `prepare`")
    _add_feature_options(p)
    p.add_argument("--force", action="store_true",
                   help="rebuild the tables even when they are up to date with these settings "
                        "(by default they are reused)")
    _add_common(p)

    p = sub.add_parser(
        "train", help="train one model on DIR/train (and DIR/validation)",
        description="Train on DIR/train/features.csv. Hyper-parameters (and the MLP's epochs) "
                    "are chosen by cross-validation over train + validation for corpora under "
                    "1,000 clips, else on DIR/validation/features.csv (or 15% of train when "
                    "there is no validation split); see --selection.")
    p.add_argument("data_dir", metavar="DIR", help="a folder with feature tables (`features`)")
    p.add_argument("--model", choices=KINDS, default="mlp",
                   help="model kind (default: mlp, the study's network); cnn and hybrid learn "
                        "from log-mel spectrograms (cached in DIR/<split>/cache/ on first use)")
    p.add_argument("--label-column", required=True, metavar="COL",
                   help="the label level to learn: fst_level_label, sec_level_label, "
                        "thr_level_label, label...")
    p.add_argument("--out", required=True, metavar="MODEL",
                   help="folder to save the model in (new, empty, or a model saved before)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation, shuffling and "
                   "folds (default 0)")
    _add_selection_options(p)
    p.add_argument("--group-by", metavar="COL",
                   help="keep clips sharing this column (of annotations.csv or --manifest, e.g. "
                        "artist) in one fold")
    p.add_argument("--manifest", metavar="CSV",
                   help="with --group-by: a CSV with 'path' (each clip's source) and COL")
    _add_cnn_options(p)
    _add_quiet(p)

    p = sub.add_parser(
        "evaluate", help="metrics of a saved model on one split, per clip",
        description="Score MODEL on DIR/<split> (test by default): accuracy, macro F1, the "
                    "per-class report and the confusion matrix, one prediction per clip (a "
                    "segment or crop model averages its clip's probabilities). The table must "
                    "have been built with the model's feature settings.")
    p.add_argument("model", metavar="MODEL", help="a model folder written by `train` or `run`")
    p.add_argument("data_dir", metavar="DIR", help="a folder with feature tables (`features`)")
    p.add_argument("--split", default="test", help="split to evaluate (default test)")
    p.add_argument("--level", metavar="COL",
                   help="score a coarser level derived from the model's predictions (e.g. "
                        "fst_level_label for a thr_level_label model)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (keys as bag_of_songs.models.evaluate) and "
                        "nothing else on stdout")
    _add_quiet(p)

    p = sub.add_parser(
        "predict", help="the genre of new audio files (or of every file in a folder)",
        description="Print the genre of each FILE: a line 'FILE: genre (probabilities)' per "
                    "file, or for a folder a tab-separated table with a header. File names "
                    "are printed escaped as by `ls --quoting-style=escape`: a backslash as "
                    "\\\\, a tab as \\t, a newline as \\n, a carriage return as \\r, other "
                    "control characters and bytes that are not UTF-8 as \\xNN, so that each "
                    "file is one line (--json writes the name as a JSON string instead).")
    p.add_argument("model", metavar="MODEL", help="a model folder written by `train` or `run`")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="audio files (wav, flac, ogg, mp3) or folders (every audio file below)")
    p.add_argument("--all-levels", action="store_true",
                   help="also the coarser levels the model's classes determine, derived from "
                        "the same probabilities (they always agree)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_quiet(p)

    p = sub.add_parser(
        "run", help="prepare, features, train all models, evaluate, write results.csv",
        description="The whole pipeline. With no arguments: the synthetic demo corpus, offline. "
                    "Run again, it reuses what is up to date: the prepared clips, feature tables "
                    "built with the same settings, and each model in OUT/models trained on the "
                    "same tables with the same options (see --force).")
    p.add_argument("--source", default="demo",
                   help="demo (default), ccmusic, a hub id or a folder")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="data folder (default: ccmusic for CCMusic, else runs/<source name>)")
    p.add_argument("--level", nargs="+", default=None, metavar="COL",
                   help="label column(s) (default: every level the source has)")
    p.add_argument("--models", default=DEFAULT_MODELS,
                   help=f"comma-separated, from {', '.join(KINDS)} (default {DEFAULT_MODELS})")
    _add_prepare_options(p)
    _add_feature_options(p)
    _add_selection_options(p)
    _add_cnn_options(p)
    p.add_argument("--force", action="store_true",
                   help="rebuild the feature tables and retrain every model even when they "
                        "are up to date (by default they are reused)")
    _add_common(p)
    return parser


# ---------------------------------------------------------------------------------------------


#: Set by main() from --quiet: progress lines are dropped, errors never.
_QUIET = False


#: Lines that report bad input (a skipped file, a warning): shown even with --quiet.
_REPORTS = ("skipped ", "warning", "error")


def _log(msg: str) -> None:
    """A progress line on stderr (none with --quiet, but for reports of skipped input)."""
    if not _QUIET or msg.lstrip().lower().startswith(_REPORTS):
        print(msg, file=sys.stderr, flush=True)


def _error(msg: str) -> None:
    """An error or interruption line on stderr (always shown)."""
    print(msg, file=sys.stderr, flush=True)


def _scheduler(args):
    return args.scheduler or os.environ.get("BAG_OF_SONGS_SCHEDULER") or None


def _levels(text: str | None):
    if not text:
        return None
    return int(text) if text.strip().isdigit() else [c.strip() for c in text.split(",")
                                                        if c.strip()]


def _check_out_dir(out: Path) -> None:
    """Refuse a --out that is a file, or a folder of files that ``prepare`` did not write."""
    from .data import _check_out_folder

    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder; choose a folder for --out")
    _check_out_folder(out)


def _prepare(args, out: Path):
    from .data import prepare

    _check_out_dir(out)
    report = prepare(
        args.source, out, split=args.split, splits=args.splits, label_column=args.label_column,
        levels=_levels(args.levels), revision=args.revision, dataset_path=args.dataset_path,
        config=args.config, trust_remote_code=args.trust_remote_code, demo_size=args.demo_size,
        classic=args.classic.split(",") if args.classic else None,
        group_column=args.group_by, manifest=args.manifest, n_jobs=args.n_jobs,
        scheduler=_scheduler(args), seed=args.seed, progress=not args.quiet, log=_log)
    return report


def _features(args, data_dir: Path):
    """Build the feature tables of every split, or reuse them when they are up to date with
    the settings asked for (unless --force); say which, and what a rebuild replaces."""
    from .features import build_feature_tables, feature_settings
    from .models import describe_feature_settings

    if args.segment_hop is not None and args.segment is None:
        raise ValueError("--segment-hop needs --segment")
    if "musicnn" not in args.feature_set and (args.musicnn_model or args.musicnn_layer):
        raise ValueError("--musicnn-model and --musicnn-layer need a musicnn feature set, e.g. "
                         "--feature-set seed+musicnn")
    options = {"stats": args.stats.split(","), "feature_set": args.feature_set,
               "n_mfcc": args.n_mfcc, "segment": args.segment, "segment_hop": args.segment_hop,
               "musicnn_model": args.musicnn_model, "musicnn_layer": args.musicnn_layer}
    wanted = feature_settings(**options)
    current, old, why = _current_tables(data_dir)
    if current is not None and _same_settings(old, wanted) and not args.force:
        n = sum(int(m.get("n_clips", 0)) for m in current.values())
        _log(f"features: up to date, reused ({n} clip{'s' * (n != 1)} in "
             f"{len(current)} split{'s' * (len(current) != 1)}; {describe_feature_settings(old)}"
             f"; --force rebuilds them)")
        return None
    if old is not None and not _same_settings(old, wanted):
        n = _models_trained_on(data_dir / "models", old)
        _log(f"replacing the feature tables ({describe_feature_settings(old)}) with "
             f"{describe_feature_settings(wanted)}"
             + (f"; {n} model{'s' * (n != 1)} in {data_dir / 'models'} "
                f"{'were' if n != 1 else 'was'} trained on the old settings" if n else ""))
    elif why is not None:
        _log(f"rebuilding the feature tables: {why}")
    extra = {"scheduler": _scheduler(args)} if _scheduler(args) else {}
    tables = build_feature_tables(data_dir, **options, n_jobs=args.n_jobs,
                                  progress=not args.quiet, log=_log, **extra)
    for split, t in tables.items():
        n = t["audio_file"].nunique()
        what = (f"{n} clip{'s' * (n != 1)} in {len(t)} segments" if "segment" in t
                else f"{n} clip{'s' * (n != 1)}")
        _log(f"{split}: {what} x {t.shape[1]} columns -> {data_dir / split / 'features.csv'}")
    return tables


def _current_tables(data_dir: Path):
    """(every split's features.json when all tables are current and agree, else None; the
    settings the tables were built with, or None when there are none; why they are not
    current, or None)."""
    from .data import list_splits
    from .features import FeatureError, check_feature_tables, read_feature_settings

    splits = list_splits(data_dir)
    built = [s for s in splits if (data_dir / s / "features.json").exists()]
    if not built:
        return None, None, None
    try:
        old = read_feature_settings(data_dir / built[0])
        old = old if isinstance(old, dict) else None
    except (OSError, ValueError):
        old = None
    missing = [s for s in splits if not (data_dir / s / "features.csv").exists()]
    if missing:
        return None, old, f"no table yet for {', '.join(missing)}"
    try:
        return check_feature_tables(data_dir, splits), old, None
    except (FileNotFoundError, FeatureError) as exc:
        why = _one_line(exc).split("; re-run `bag-of-songs features", 1)[0]
        return None, old, why


def _models_trained_on(models: Path, settings: dict) -> int:
    """How many models saved under ``models`` (as ``run`` saves them) read feature tables
    built with ``settings``."""
    n = 0
    for meta in sorted(models.glob("*/model.json")) if models.is_dir() else []:
        try:
            saved = json.loads(meta.read_text(encoding="utf-8")).get("settings")
        except (OSError, ValueError, AttributeError):
            continue
        n += isinstance(saved, dict) and bool(saved) and _same_settings(saved, settings)
    return n


def _same_settings(old: dict | None, wanted: dict) -> bool:
    from .features import SETTING_KEYS

    return old is not None and all(old.get(k) == wanted.get(k) for k in SETTING_KEYS)


def _cmd_prepare(args) -> int:
    report = _prepare(args, Path(args.out))
    print(report.summary())
    return 0


def _cmd_features(args) -> int:
    _features(args, Path(args.data_dir))
    return 0


def _groups(args, data_dir: Path):
    if not args.group_by:
        return None
    from .models import read_clip_groups

    return read_clip_groups(data_dir, args.group_by, manifest=args.manifest)


def _cmd_train(args) -> int:
    from .models import check_model_folder, save_model, train_on_folder

    # refuse a bad --out before training, not after
    replaced = check_model_folder(Path(args.out)) is not None
    data_dir = Path(args.data_dir)
    groups = _groups(args, data_dir)
    _log(f"training {args.model} on {data_dir} for {args.label_column} ..."
         + (f" (it will replace the model saved in {args.out})" if replaced else ""))
    t0 = time.monotonic()
    model, history = train_on_folder(data_dir, kind=args.model, label_column=args.label_column,
                                     seed=args.seed, selection=args.selection,
                                     groups=groups, log=_log,
                                     spectrogram_options=_spectrogram_options(args),
                                     progress=not args.quiet)
    path = save_model(model, args.out)
    info = model.info
    if "cv_f1_macro" in info:
        score = f"cross-validated macro F1 {info['cv_f1_macro']:.3f}"
    elif info.get("val_f1_macro") is not None:
        score = f"validation macro F1 {info['val_f1_macro']:.3f}"
    elif history is not None and len(history) and "val_loss" in history:
        best = history.iloc[info["best_epoch"] - 1]
        score = (f"validation loss {best['val_loss']:.3f}, accuracy "
                 f"{best['val_accuracy']:.3f}")
    else:
        score = "no validation score"
    if args.model in ("cnn", "hybrid"):
        detail = f"best epoch {info['best_epoch']} of {info['stopped_epoch']}"
    elif args.model == "mlp":
        detail = (f"best epoch {info['best_epoch']} of {info['stopped_epoch']}"
                  if history is not None else f"{info['params']['epochs']} epochs")
    else:
        detail = f"chosen {info.get('params')}"
    print(f"saved {args.model} for {args.label_column} ({len(model.classes)} classes; "
          f"{info.get('selection')}: {detail}; {score}; {time.monotonic() - t0:.0f} s) to {path}")
    return 0


def _split_dir(data_dir: Path, split: str) -> Path:
    from .data import list_splits

    present = [s for s in list_splits(data_dir) if (data_dir / s / "features.csv").exists()]
    if split not in present:
        if split in list_splits(data_dir):
            raise FileNotFoundError(f"{data_dir / split / 'features.csv'}: no feature table; run "
                                    f"`bag-of-songs features {data_dir}` first")
        raise ValueError(f"{data_dir}: no split {split!r}; splits with feature tables: "
                         f"{present or 'none (run `bag-of-songs features` first)'}")
    return data_dir / split


def _print_confusion(metrics: dict) -> None:
    classes = metrics["classes"]
    cm = metrics["confusion_matrix"]
    width = max(len(c) for c in classes)
    cols = [max(len(c), 4) for c in classes]
    print("confusion matrix (rows: true class, columns: predicted class):")
    print(" " * (width + 2) + " ".join(f"{c:>{w}}" for c, w in zip(classes, cols, strict=True)))
    for c, row in zip(classes, cm, strict=True):
        print(f"  {c:>{width}}" + "".join(f" {v:>{w}d}" for v, w in zip(row, cols, strict=True)))


def _cmd_evaluate(args) -> int:
    from .models import evaluate, load_model, read_features

    model = load_model(args.model)
    split_dir = _split_dir(Path(args.data_dir), args.split)
    metrics = evaluate(model, read_features(split_dir), level=args.level,
                       progress=not args.quiet)
    if args.json:
        print(json.dumps(metrics, allow_nan=False))
        return 0
    clips = f"{metrics['n']} clip{'s' * (metrics['n'] != 1)}"
    if "n_crops" in metrics:  # a spectrogram model: whole clips, each the mean of its crops
        per = (f"{clips}, each decided by the mean of its {metrics['n_crops']} crops of "
               f"{metrics['crop_seconds']:.1f} s")
    elif metrics["n_segments"] != metrics["n"]:
        per = f"{clips} in {metrics['n_segments']} segments"
    else:
        per = clips
    level = metrics["level"]
    derived = f", derived from {model.label_column}" if level != model.label_column else ""
    print(f"{model.kind} on {split_dir} ({per}; {level}{derived})")
    line = f"accuracy {metrics['accuracy']:.3f}  macro F1 {metrics['f1_macro']:.3f}"
    if len(metrics["classes"]) == 2:
        line += f"  F1 of {metrics['classes'][1]} {metrics['f1']:.3f}"
    print(line)
    _print_confusion(metrics)
    return 0


def _audio_files(paths: list[str]) -> list[Path]:
    """The files to predict: each FILE, and every audio file below each folder (sorted)."""
    from .data import AUDIO_EXTENSIONS

    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file()
                           and f.suffix.lower() in AUDIO_EXTENSIONS
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if not found:
                raise ValueError(f"{p}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in the "
                                 "folder")
            out.extend(found)
        else:
            out.append(p)
    return out


_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _quote_name(name: str | os.PathLike) -> str:
    """A file name on one line, escaped as by ``ls --quoting-style=escape``.

    A backslash becomes ``\\\\`` (not on Windows, where it separates folders), a tab ``\\t``, a
    newline ``\\n``, a carriage return ``\\r``, other control characters and the bytes of a
    name that are not UTF-8 ``\\xNN``; everything else is left as it is.

    Examples
    --------
    >>> _quote_name("a\\tb\\nc.wav")
    'a\\\\tb\\\\nc.wav'
    """
    out = []
    for ch in os.fspath(name):
        code = ord(ch)
        if ch in _ESCAPES and not (ch == "\\" and os.sep == "\\"):
            out.append(_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8 (os.fsdecode's escape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:  # any other lone surrogate: not printable either
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _one_line(text) -> str:
    """A message on one line: its lines joined by spaces."""
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def _is_model_dir(path: str) -> bool:
    return (Path(path) / "model.json").is_file()


def _cmd_predict(args) -> int:
    from .models import load_model, predict_file

    if not _is_model_dir(args.model) and any(_is_model_dir(f) for f in args.files):
        _error(f"error: {args.model} is not a model folder, but "
             f"{next(f for f in args.files if _is_model_dir(f))} is: the model comes first, "
             "as in `bag-of-songs predict MODEL FILE...`")
        return EXIT_ERROR
    model = load_model(args.model)
    files = _audio_files(args.files)
    # A folder gives a table (tab-separated, a header, a probability column per class);
    # files named one by one give a line each.
    table = any(Path(f).is_dir() for f in args.files) and not args.json
    levels = [model.label_column, *model.hierarchy] if args.all_levels else [model.label_column]
    if table:
        print("\t".join(["file", *levels, *(f"p({c})" for c in model.classes)]))
    status = 0
    for f in files:
        try:
            proba = predict_file(model, f, levels="all" if args.all_levels else None)
        except AudioLoadError as exc:
            _error(f"error: {_quote_name(str(exc))}")  # on one line, the name as on stdout
            status = EXIT_ERROR
            continue
        # one entry per level, decided top-down, so the levels agree
        genres = {lv: r["genre"] for lv, r in proba.items()}
        by_level = {lv: r["probabilities"] for lv, r in proba.items()}
        probs = by_level[model.label_column]
        top = genres[model.label_column]
        if args.json:
            rec = {"file": str(f), "genre": top, "probabilities": probs}
            if args.all_levels:
                rec["levels"] = genres
                rec["level_probabilities"] = by_level
            print(json.dumps(rec, allow_nan=False))
        elif table:
            print("\t".join([_quote_name(f), *(genres[lv] for lv in levels),
                              *(f"{probs[c]:.4f}" for c in model.classes)]))
        else:
            ranked = ", ".join(f"{c} {p:.2f}" for c, p in probs.items())
            coarse = (" [" + ", ".join(f"{lv}: {genres[lv]}" for lv in levels[1:]) + "]"
                      if args.all_levels else "")
            print(f"{_quote_name(f)}: {top}{coarse} ({ranked})")
    return status


def _default_run_dir(source: str) -> Path:
    if source == "ccmusic":
        return Path("ccmusic")
    return Path("runs") / (Path(source).name or "source").replace(":", "_")


def _cmd_run(args) -> int:
    from .data import label_columns, list_splits, read_annotations, write_csv_atomic

    kinds = tuple(k for k in args.models.split(",") if k)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"unknown model(s) {bad}; choose from {KINDS}")
    out = Path(args.out) if args.out else _default_run_dir(args.source)
    t0 = time.monotonic()
    _log(f"== 1/3 prepare {args.source} -> {out}")
    _log(_prepare(args, out).summary())
    missing = [s for s in ("train", "test") if s not in list_splits(out)]
    if missing:
        raise ValueError(
            f"{out}: no {' and no '.join(missing)} split after preparing {args.source!r}: "
            "--splits names none, or the source has too few clips for every split to get one "
            "(use --splits with train and test shares, more clips, or a larger --demo-size)")
    if args.level:
        present = label_columns(read_annotations(out / "train"))
        unknown = [c for c in args.level if c not in present]
        if unknown:
            raise ValueError(f"no label column(s) {unknown} in {out}; present: {present}")
    _log(f"== 2/3 features ({time.monotonic() - t0:.0f} s so far)")
    _features(args, out)
    _log(f"== 3/3 train and evaluate ({time.monotonic() - t0:.0f} s so far)")
    from .models import compare_models

    groups = None
    if args.group_by:
        from .models import read_clip_groups

        groups = read_clip_groups(out, args.group_by, manifest=args.manifest)
    results = compare_models(out, levels=args.level, kinds=kinds, split="test", seed=args.seed,
                             models_dir=out / "models", n_jobs=args.n_jobs,
                             selection=args.selection, groups=groups, log=_log,
                             spectrogram_options=_spectrogram_options(args), force=args.force,
                             progress=not args.quiet)
    write_csv_atomic(results, out / "results.csv")
    shown = results.drop(columns=["selection", "split_rule"])
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\nsplits: {results['split_rule'].iloc[0]}; hyper-parameters: "
          f"{results['selection'].iloc[0]}")
    print("scores are per clip (a segment model averages its segments' probabilities); "
          "rows with derived_from score a coarse level through the finest level's model; "
          "f1 is the F1 of the second class for two classes, else the macro F1")
    print(f"results: {out / 'results.csv'}; models: {out / 'models'} "
          f"({time.monotonic() - t0:.0f} s in all)")
    if args.source == "demo":
        print("(the demo corpus is synthetic: these scores say nothing about real music)")
    return 0


_COMMANDS = {"prepare": _cmd_prepare, "features": _cmd_features, "train": _cmd_train,
             "evaluate": _cmd_evaluate, "predict": _cmd_predict, "run": _cmd_run}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bag-of-songs`` console script."""
    global _QUIET
    args = build_parser().parse_args(argv)
    _QUIET = bool(getattr(args, "quiet", False))
    warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given")
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


if __name__ == "__main__":
    sys.exit(main())
