"""The ``bag-of-songs`` command line: prepare, features, train, evaluate, predict, run.

Every subcommand prints its progress to stderr and its results to stdout; bad input ends with
one line ``error: ...`` on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from .data import AudioLoadError, DataSourceError

EXIT_ERROR = 2


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


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-jobs", type=_n_jobs, default=-1,
                   help="worker processes for decoding and feature extraction (-1: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


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
                        "when present, else 'label')")
    p.add_argument("--revision", metavar="REV",
                   help="hub revision (for CCMusic: one that still has the loading script)")
    p.add_argument("--config", metavar="NAME", help="configuration (subset) of a hub dataset")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="let a hub dataset run its loading script (only for datasets you trust; "
                        "always on for ccmusic, whose default subset needs it)")
    p.add_argument("--dataset-path", metavar="PATH",
                   help="with source ccmusic: a local copy of the corpus (a save_to_disk folder, "
                        "e.g. from ModelScope) instead of the hub")
    p.add_argument("--demo-size", type=_positive, default=20, metavar="N",
                   help="demo corpus: clips per style (4 styles; default 20)")
    p.add_argument("--classic", metavar="GENRES",
                   help="folder source: comma-separated genre folders that are Classic "
                        "(default: classical, classic, symphony, opera, solo, chamber, ...)")
    p.add_argument("--group-by", metavar="COL",
                   help="folder source: keep clips sharing this column of the manifest (e.g. "
                        "artist) in one split, for honest evaluation")
    p.add_argument("--manifest", metavar="CSV",
                   help="with --group-by: a CSV with 'path' (relative to the folder) and COL "
                        "(default: FOLDER/manifest.csv)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")


def _add_feature_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stats", default="mean", metavar="LIST",
                   help="pooling statistics over frames, comma-separated from mean, std, median, "
                        "min, max (default: mean, the study's 32 columns)")
    p.add_argument("--feature-set", choices=("seed", "extended"), default="seed",
                   help="seed: the study's nine features; extended: adds spectral contrast, "
                        "flatness, onset strength, tempo and MFCC deltas")
    p.add_argument("--n-mfcc", type=_positive, default=13, metavar="N",
                   help="MFCCs, 1 to 128 (default 13)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bag-of-songs",
        description="Music-genre classification from hand-crafted audio features.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "prepare", help="decode a source into 30 s mono 22,050 Hz WAVs plus annotations.csv",
        description="Decode every clip of SOURCE, mix to mono, resample to 22,050 Hz, crop/pad "
                    "to 30 s and write OUT/<split>/audios/*.wav and OUT/<split>/annotations.csv. "
                    "Undecodable inputs are skipped and listed in OUT/<split>/skipped.csv. "
                    "Re-running resumes.")
    p.add_argument("source", metavar="SOURCE",
                   help="'demo' (synthetic, offline), 'ccmusic', a folder of genre subfolders, "
                        "a local Hugging Face dataset folder, or a hub id")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    _add_prepare_options(p)
    _add_common(p)

    p = sub.add_parser("features", help="extract the feature table of every split under DIR",
                       description="Write DIR/<split>/features.csv for every prepared split.")
    p.add_argument("data_dir", metavar="DIR", help="a folder written by `prepare`")
    _add_feature_options(p)
    _add_common(p)

    p = sub.add_parser("train", help="train one model on DIR/train, selected on DIR/validation",
                       description="Train on DIR/train/features.csv; early-stop (MLP) or choose "
                                   "hyper-parameters (SVC, RF) on DIR/validation/features.csv "
                                   "(or 15%% of train when there is no validation split).")
    p.add_argument("data_dir", metavar="DIR")
    p.add_argument("--model", choices=("mlp", "svc", "rf"), default="mlp")
    p.add_argument("--label-column", required=True, metavar="COL",
                   help="fst_level_label, sec_level_label, thr_level_label or label")
    p.add_argument("--out", required=True, metavar="MODEL", help="folder to save the model in")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("evaluate", help="metrics of a saved model on one split")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data_dir", metavar="DIR")
    p.add_argument("--split", default="test", help="split to evaluate (default test)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (keys as bag_of_songs.models.evaluate) and "
                        "nothing else on stdout")

    p = sub.add_parser("predict", help="the genre of new audio files")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = sub.add_parser(
        "run", help="prepare, features, train all models, evaluate, write results.csv",
        description="The whole pipeline. With no arguments: the synthetic demo corpus, offline.")
    p.add_argument("--source", default="demo",
                   help="demo (default), ccmusic, a hub id or a folder")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="data folder (default: ccmusic for CCMusic, else runs/<source name>)")
    p.add_argument("--level", nargs="+", default=None, metavar="COL",
                   help="label column(s) (default: every level the source has)")
    p.add_argument("--models", default="mlp,svc,rf", help="comma-separated (default all three)")
    _add_prepare_options(p)
    _add_feature_options(p)
    _add_common(p)
    return parser


# ---------------------------------------------------------------------------------------------


def _log(msg: str) -> None:
    print(msg, file=sys.stderr)


def _prepare(args, out: Path):
    from .data import prepare

    report = prepare(
        args.source, out, split=args.split, splits=args.splits, label_column=args.label_column,
        revision=args.revision, dataset_path=args.dataset_path, config=args.config,
        trust_remote_code=args.trust_remote_code, demo_size=args.demo_size,
        classic=args.classic.split(",") if args.classic else None,
        group_column=args.group_by, manifest=args.manifest, n_jobs=args.n_jobs,
        seed=args.seed, progress=not args.quiet, log=_log)
    return report


def _features(args, data_dir: Path):
    from .features import build_feature_tables

    tables = build_feature_tables(data_dir, stats=args.stats.split(","),
                                  feature_set=args.feature_set, n_mfcc=args.n_mfcc,
                                  n_jobs=args.n_jobs, progress=not args.quiet, log=_log)
    for split, t in tables.items():
        _log(f"{split}: {len(t)} rows x {t.shape[1]} columns -> "
             f"{data_dir / split / 'features.csv'}")
    return tables


def _cmd_prepare(args) -> int:
    report = _prepare(args, Path(args.out))
    print(report.summary())
    return 0


def _cmd_features(args) -> int:
    _features(args, Path(args.data_dir))
    return 0


def _cmd_train(args) -> int:
    from .models import save_model, train_on_folder

    model, history = train_on_folder(args.data_dir, kind=args.model,
                                     label_column=args.label_column, seed=args.seed)
    path = save_model(model, args.out)
    detail = (f"best epoch {model.info['best_epoch']} of {model.info['stopped_epoch']}"
              if args.model == "mlp" else f"chosen {model.info.get('params')}")
    print(f"saved {args.model} for {args.label_column} ({len(model.classes)} classes, "
          f"{detail}) to {path}")
    return 0


def _cmd_evaluate(args) -> int:
    from .models import evaluate, load_model, read_features

    model = load_model(args.model)
    split_dir = Path(args.data_dir) / args.split
    metrics = evaluate(model, read_features(split_dir))
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(f"{model.kind} on {split_dir} ({metrics['n']} clips, {model.label_column})")
    print(f"accuracy {metrics['accuracy']:.3f}  macro F1 {metrics['f1_macro']:.3f}  "
          f"F1 {metrics['f1']:.3f}")
    width = max(len(c) for c in metrics["classes"])
    print("confusion matrix (rows true, columns predicted):")
    for c, row in zip(metrics["classes"], metrics["confusion_matrix"], strict=True):
        print(f"  {c:>{width}} " + " ".join(f"{v:4d}" for v in row))
    return 0


def _cmd_predict(args) -> int:
    from .models import load_model, predict_file

    model = load_model(args.model)
    status = 0
    for f in args.files:
        try:
            proba = predict_file(model, f)
        except AudioLoadError as exc:
            _log(f"error: {exc}")
            status = EXIT_ERROR
            continue
        top = next(iter(proba))
        if args.json:
            print(json.dumps({"file": f, "genre": top, "probabilities": proba}))
        else:
            probs = ", ".join(f"{c} {p:.2f}" for c, p in proba.items())
            print(f"{f}: {top} ({probs})")
    return status


def _default_run_dir(source: str) -> Path:
    if source == "ccmusic":
        return Path("ccmusic")
    return Path("runs") / (Path(source).name or "source").replace(":", "_")


def _cmd_run(args) -> int:
    from .data import label_columns, list_splits, read_annotations, write_csv_atomic
    from .models import MODEL_KINDS, compare_models

    kinds = tuple(k for k in args.models.split(",") if k)
    bad = [k for k in kinds if k not in MODEL_KINDS]
    if bad or not kinds:
        raise ValueError(f"unknown model(s) {bad}; choose from {MODEL_KINDS}")
    out = Path(args.out) if args.out else _default_run_dir(args.source)
    _log(f"== prepare {args.source} -> {out}")
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
    _log("== features")
    _features(args, out)
    _log("== train and evaluate")
    results = compare_models(out, levels=args.level, kinds=kinds, split="test", seed=args.seed,
                             models_dir=out / "models", n_jobs=args.n_jobs)
    write_csv_atomic(results, out / "results.csv")
    with_float = results.to_string(index=False, float_format=lambda v: f"{v:.3f}")
    print(with_float)
    print(f"\nresults: {out / 'results.csv'}; models: {out / 'models'}")
    if args.source == "demo":
        print("(the demo corpus is synthetic: these scores say nothing about real music)")
    return 0


_COMMANDS = {"prepare": _cmd_prepare, "features": _cmd_features, "train": _cmd_train,
             "evaluate": _cmd_evaluate, "predict": _cmd_predict, "run": _cmd_run}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bag-of-songs`` console script."""
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given")
    try:
        return _COMMANDS[args.command](args)
    # FeatureError and ModelError are ValueErrors: catching those here keeps torch unimported
    # for --help and the commands that do not need it.
    except (AudioLoadError, DataSourceError, OSError, ValueError) as exc:
        _log(f"error: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _log("interrupted: what was complete is kept; run the same command again to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
