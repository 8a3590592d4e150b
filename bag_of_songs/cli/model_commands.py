"""The ``train``, ``evaluate`` and ``predict`` subcommands: one model trained on a data
folder and saved, its metrics on one split, the genre of new audio files.

Explained in ``notebooks/3-models-prediction.ipynb``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .._constants import AUDIO_EXTENSIONS
from ..errors import AudioLoadError
from .output import EXIT_ERROR, _error, _log, _quote_name

# The library (data, features, models) is imported inside the commands, not here, so that
# `bag-of-songs --help` and `import bag_of_songs.cli` stay fast and never import torch.


def _spectrogram_options(args) -> dict:
    return {"epochs": args.epochs, "crops_per_clip": args.crops_per_clip,
            "device": args.device, "spectrogram": {"n_mels": args.n_mels}}



def _groups(args, data_dir: Path):
    if not args.group_by:
        return None
    from ..models import read_clip_groups

    return read_clip_groups(data_dir, args.group_by, manifest=args.manifest)


def _cmd_train(args) -> int:
    from ..models import check_model_folder, save_model, train_on_folder

    # refuse a bad --out before training, not after
    replaced = check_model_folder(Path(args.out)) is not None
    data_dir = Path(args.data_dir)
    groups = _groups(args, data_dir)
    _log(f"training {args.model} on {data_dir} for {args.label_column} ..."
         + (f" (it will replace the model saved in {args.out})" if replaced else ""))
    t0 = time.monotonic()
    model, history = train_on_folder(data_dir, kind=args.model, label_column=args.label_column,
                                     seed=args.seed, selection=args.selection,
                                     groups=groups,
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
    from ..data import list_splits

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
    from ..models import evaluate, load_model, read_features

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
    _print_reliability(metrics)
    return 0


def _print_reliability(metrics: dict) -> None:
    print(f"expected calibration error {metrics['ece']:.3f} (reliability, bins of the top "
          "probability: clips, mean confidence, accuracy):")
    for row in metrics["reliability"]:
        print(f"  ({row['bin_lower']:.1f}, {row['bin_upper']:.1f}]  {row['count']:>5d}  "
              f"{row['confidence']:.3f}  {row['accuracy']:.3f}")


def _audio_files(paths: list[str]) -> list[Path]:
    """The files to predict: each FILE, and every audio file below each folder (sorted)."""
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


def _is_model_dir(path: str) -> bool:
    return (Path(path) / "model.json").is_file()


def _cmd_predict(args) -> int:
    from ..models import load_model, predict_file
    from ..models.predict import answer_levels

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
    level, coarser, classes = answer_levels(model)  # a GenreClassifier's, or a pipeline's
    levels = [level, *coarser] if args.all_levels else [level]
    if table:
        print("\t".join(["file", *levels, *(f"p({c})" for c in classes)]))
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
        probs = by_level[level]
        top = genres[level]
        if args.json:
            rec = {"file": str(f), "genre": top, "probabilities": probs,
                   "uncertain": proba[level]["uncertain"]}
            if args.all_levels:
                rec["levels"] = genres
                rec["level_probabilities"] = by_level
            print(json.dumps(rec, allow_nan=False))
        elif table:
            print("\t".join([_quote_name(f), *(genres[lv] for lv in levels),
                              *(f"{probs[c]:.4f}" for c in classes)]))
        else:
            ranked = ", ".join(f"{c} {p:.2f}" for c, p in probs.items())
            coarse = (" [" + ", ".join(f"{lv}: {genres[lv]}" for lv in levels[1:]) + "]"
                      if args.all_levels and levels[1:] else "")
            flag = " (uncertain)" if proba[level]["uncertain"] else ""
            print(f"{_quote_name(f)}: {top}{flag}{coarse} ({ranked})")
    return status

