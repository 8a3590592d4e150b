"""The ``prepare`` and ``features`` subcommands: decode a source into a data folder, and
build (or reuse) the feature table of every split.

Explained in ``notebooks/1-data-preparation.ipynb`` and
``notebooks/2-features-explanation.ipynb``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import FeatureError
from .output import _log, _one_line

# The library (data, features, models) is imported inside the commands, not here, so that
# `bag-of-songs --help` and `import bag_of_songs.cli` stay fast and never import torch.


def _scheduler(args):
    return args.scheduler or os.environ.get("BAG_OF_SONGS_SCHEDULER") or None


def _levels(text: str | None):
    if not text:
        return None
    return int(text) if text.strip().isdigit() else [c.strip() for c in text.split(",")
                                                        if c.strip()]


def _check_out_dir(out: Path) -> None:
    """Refuse a --out that is a file, or a folder of files that ``prepare`` did not write."""
    from ..data import _check_out_folder

    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder; choose a folder for --out")
    _check_out_folder(out)


def _prepare(args, out: Path):
    from ..data import prepare

    _check_out_dir(out)
    report = prepare(
        args.source, out, split=args.split, splits=args.splits, label_column=args.label_column,
        levels=_levels(args.levels), revision=args.revision, dataset_path=args.dataset_path,
        config=args.config, trust_remote_code=args.trust_remote_code, demo_size=args.demo_size,
        classic=args.classic.split(",") if args.classic else None,
        group_column=args.group_by, manifest=args.manifest, n_jobs=args.n_jobs,
        scheduler=_scheduler(args), seed=args.seed, progress=not args.quiet)
    return report


def _features(args, data_dir: Path):
    """Build the feature tables of every split, or reuse them when they are up to date with
    the settings asked for (unless --force); say which, and what a rebuild replaces."""
    from ..features import FeatureSettings, build_feature_tables
    from ..models import describe_feature_settings

    if args.segment_hop is not None and args.segment is None:
        raise ValueError("--segment-hop needs --segment")
    if "musicnn" not in args.feature_set and (args.musicnn_model or args.musicnn_layer):
        raise ValueError("--musicnn-model and --musicnn-layer need a musicnn feature set, e.g. "
                         "--feature-set seed+musicnn")
    settings = FeatureSettings(
        stats=args.stats, feature_set=args.feature_set, n_mfcc=args.n_mfcc,
        segment=args.segment, segment_hop=args.segment_hop, musicnn_model=args.musicnn_model,
        musicnn_layer=args.musicnn_layer).resolved()
    wanted = settings.to_dict()
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
    tables = build_feature_tables(data_dir, settings=settings, n_jobs=args.n_jobs,
                                  progress=not args.quiet, **extra)
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
    from ..data import list_splits
    from ..features import check_feature_tables, read_feature_settings

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
    from ..features import SETTING_KEYS

    return old is not None and all(old.get(k) == wanted.get(k) for k in SETTING_KEYS)


def _cmd_prepare(args) -> int:
    report = _prepare(args, Path(args.out))
    print(report.summary())
    return 0


def _cmd_features(args) -> int:
    _features(args, Path(args.data_dir))
    return 0

