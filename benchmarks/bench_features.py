"""Benchmark of feature extraction: speed per clip, corpus throughput and memory.

Run from the repository root::

    python benchmarks/bench_features.py [--clips N] [--shared PATH] [--sizes 8,64]

``--shared`` is the folder of real clips (genre subfolders of mp3 files), by default
``../shared/data/emotify-dev`` beside the repository (or ``$BAG_OF_SONGS_SHARED/data/emotify-dev``).
Without it the benchmark prints a note and exits 0.

1. Per clip, in this one process, with BLAS/OpenMP limited to one thread (threadpoolctl) so
   every way gets one core: (i) the naive way, each librosa feature function called on ``y``
   and recomputing its own STFT, chroma at A440 (``tuning=0.0``); (ii) the same with chroma
   estimating the tuning (``tuning=None``); (iii) ``extract_features(y)``; (iv)
   ``extract_features(y, segment=3.0)`` (ten 3 s texture-window rows from the same STFT),
   reported as a ratio to (iii). Median over clips of the best of ``--repeat`` runs, after a
   warm-up, the ways interleaved clip by clip.
2. ``build_feature_table`` on a corpus of ``--sizes`` clips (the prepared real clips repeated
   in ``annotations.csv``), each run in a fresh process: clips per second and peak memory, with
   one worker in-process (peak RSS of that process, and the peak of Python/numpy allocations
   by ``tracemalloc``) and with every core (peak RSS summed over the process tree, sampled).
   Each run first warms up (imports; for every core, the worker pool on a small corpus), so
   clips per second is the steady rate; the start-up is printed apart. Memory is flat when
   the peak at the big size is about that at the small size.

This is a script, not a test: timings depend on the machine.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread per process, for a fair comparison

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_SHARED = Path(os.environ.get("BAG_OF_SONGS_SHARED", ROOT.parent / "shared"))
DEFAULT_CLIPS = _SHARED / "data" / "emotify-dev"
GENRES = ("classical", "electronic", "pop", "rock")
CLIP_BYTES = 661_500 * 4  # one prepared 30 s clip as float32


# ---------------------------------------------------------------------------------------------
# 1. Per-clip speed


def naive_features(y: np.ndarray, *, sr: int = 22050, tuning: float | None = 0.0) -> dict:
    """The study's 32 means, each librosa feature function recomputing its own STFT."""
    import librosa

    n_fft, hop = 2048, 512
    frames = librosa.util.frame(np.pad(y, n_fft // 2), frame_length=n_fft, hop_length=hop)
    envelope = frames.max(axis=0)
    rms = librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop)[0]
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop)[0]
    power = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)) ** 2
    split = int(np.searchsorted(librosa.fft_frequencies(sr=sr, n_fft=n_fft), 2000.0))
    ber = power[:split].sum(axis=0) / np.maximum(power[split:].sum(axis=0), 1e-10)
    cent = librosa.feature.spectral_centroid(y=y, sr=sr, n_fft=n_fft, hop_length=hop)[0]
    bw = librosa.feature.spectral_bandwidth(y=y, sr=sr, n_fft=n_fft, hop_length=hop)[0]
    rolloff = librosa.feature.spectral_rolloff(y=y, sr=sr, n_fft=n_fft, hop_length=hop)[0]
    chroma = librosa.feature.chroma_stft(y=y, sr=sr, n_fft=n_fft, hop_length=hop,
                                         tuning=tuning)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13, n_fft=n_fft, hop_length=hop)
    row = {f"mean_{k}": float(v.mean()) for k, v in (
        ("envelope", envelope), ("rms", rms), ("zcr", zcr), ("ber", ber), ("spec_cent", cent),
        ("spec_bw", bw), ("rolloff", rolloff))}
    pitches = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    row.update({f"mean_chroma_stft{p}": float(v) for p, v in zip(pitches, chroma.mean(axis=1),
                                                                 strict=True)})
    row.update({f"mean_mfcc{j + 1}": float(v) for j, v in enumerate(mfcc.mean(axis=1))})
    return row


def pick_clips(clip_dir: Path, n: int) -> list[Path]:
    """``n`` clips, taken in turn from each genre folder (sorted, so the choice is fixed)."""
    per_genre = [sorted((clip_dir / g).glob("*.mp3")) for g in GENRES]
    per_genre = [files for files in per_genre if files]
    clips = []
    for i in range(max(len(f) for f in per_genre)):
        clips.extend(files[i] for files in per_genre if i < len(files))
    return clips[:n]


def best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_per_clip(clips: list[Path], repeat: int) -> dict:
    from threadpoolctl import threadpool_limits

    from bag_of_songs.data import load_audio
    from bag_of_songs.features import extract_features

    signals = [load_audio(p) for p in clips]
    ways = {
        "naive (tuning=0.0)": lambda y: naive_features(y, tuning=0.0),
        "naive (tuning=None)": lambda y: naive_features(y, tuning=None),
        "extract_features": lambda y: extract_features(y),
        "segment=3.0": lambda y: extract_features(y, segment=3.0),
    }
    times = {name: [] for name in ways}
    worst_rel = 0.0
    with threadpool_limits(limits=1):
        for fn in ways.values():  # warm-up: imports, filter banks, FFT plans
            fn(signals[0])
        for y in signals:
            for name, fn in ways.items():  # interleaved, so drift hits every way alike
                times[name].append(best_time(lambda fn=fn, y=y: fn(y), repeat))
            ours, ref = extract_features(y), naive_features(y)
            worst_rel = max(worst_rel, max(abs(ours[k] - ref[k]) / max(abs(ref[k]), 1e-3)
                                           for k in ref))
    ms = {name: 1000 * float(np.median(t)) for name, t in times.items()}
    return {"ms": ms, "n_clips": len(signals), "worst_rel_diff": worst_rel}


# ---------------------------------------------------------------------------------------------
# 2. Corpus throughput and memory


def make_corpora(clips: list[Path], sizes: list[int], work: Path
                 ) -> tuple[Path, dict[int, Path]]:
    """Prepare the clips once, then one split per size that lists them repeatedly."""
    import pandas as pd

    from bag_of_songs.data import prepare

    src = work / "source"
    for p in clips:
        (src / p.parent.name).mkdir(parents=True, exist_ok=True)
        os.symlink(p, src / p.parent.name / p.name)
    data = work / "data"
    prepare(src, data, split="clips", n_jobs=-1, progress=False, log=lambda m: None)
    ann = pd.read_csv(data / "clips" / "annotations.csv")
    out = {}
    for size in sizes:
        split = data / f"size{size}"
        split.mkdir()
        rows = ann.iloc[np.arange(size) % len(ann)].reset_index(drop=True)
        rows.to_csv(split / "annotations.csv", index=False)
        out[size] = split
    return data / "clips", out


def _tree_rss(proc) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except Exception:  # a worker that just ended
            pass
    return total


def run_table(split: Path, warm: Path, *, n_jobs: int, trace: bool = False) -> dict:
    """``build_feature_table`` in a fresh process; its time and memory as measured there."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_table", str(split),
           "--_warm", str(warm), "--n-jobs", str(n_jobs)] + (["--_trace"] if trace else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    peak_tree = 0
    try:
        import psutil

        ps = psutil.Process(proc.pid)
        stop = threading.Event()

        def poll():
            nonlocal peak_tree
            while not stop.is_set():
                peak_tree = max(peak_tree, _tree_rss(ps))
                stop.wait(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        out, _ = proc.communicate()
        stop.set()
        poller.join()
    except ImportError:
        out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_tree_rss"] = peak_tree or None
    return result


def _table_child(split: str, warm: str, n_jobs: int, trace: bool) -> None:
    """Child process: build one table, print a JSON line with time and memory.

    A warm-up first (imports, filter banks and, for n_jobs != 1, starting the worker pool on
    the small ``warm`` split), so the timed call measures the steady per-clip cost; the
    warm-up's own time is reported as ``startup_seconds``.
    """
    import tracemalloc

    from bag_of_songs.features import build_feature_table, extract_features

    warnings.filterwarnings("ignore")
    t = time.perf_counter()
    extract_features(np.zeros(22050, np.float32))
    if n_jobs != 1:
        build_feature_table(warm, n_jobs=n_jobs, progress=False, log=lambda m: None)
    startup = time.perf_counter() - t
    if trace:
        tracemalloc.start()
    t = time.perf_counter()
    table = build_feature_table(split, n_jobs=n_jobs, progress=False, log=lambda m: None)
    seconds = time.perf_counter() - t
    traced = tracemalloc.get_traced_memory()[1] if trace else None
    print(json.dumps({
        "rows": len(table), "seconds": seconds, "startup_seconds": startup,
        "peak_rss_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "tracemalloc_peak": traced}))


def bench_tables(clips: list[Path], sizes: list[int]) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench_features_"))
    try:
        warm, splits = make_corpora(clips, sizes, work)
        run_table(warm, warm, n_jobs=1)  # warm the page cache
        results = {}
        for size, split in splits.items():
            one = run_table(split, warm, n_jobs=1)
            traced = run_table(split, warm, n_jobs=1, trace=True)
            every = run_table(split, warm, n_jobs=-1)
            results[size] = {"one": one, "traced": traced, "every": every}
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------


def mb(n) -> str:
    return "n/a" if n is None else f"{n / 2**20:.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=8,
                        help="real clips to time and to build the corpora from (default 8)")
    parser.add_argument("--shared", type=Path, default=DEFAULT_CLIPS,
                        help=f"folder of real clips in genre subfolders (default {DEFAULT_CLIPS})")
    parser.add_argument("--sizes", default="8,64",
                        help="two corpus sizes for build_feature_table (default 8,64)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per clip and way; the best counts (default 3)")
    parser.add_argument("--skip-tables", action="store_true",
                        help="only time the per-clip extraction")
    parser.add_argument("--_table", help=argparse.SUPPRESS)
    parser.add_argument("--_warm", help=argparse.SUPPRESS)
    parser.add_argument("--_trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n-jobs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._table:
        _table_child(args._table, args._warm, args.n_jobs, args._trace)
        return 0

    clip_dir = args.shared
    clips = pick_clips(clip_dir, args.clips) if clip_dir.is_dir() else []
    if not clips:
        print(f"SKIPPED: no real clips found at {clip_dir} (genre subfolders of mp3 files, "
              "in ../shared beside the repository); pass --shared PATH to point at them.")
        return 0
    sizes = sorted(int(s) for s in args.sizes.split(","))
    import threadpoolctl

    import bag_of_songs

    print(f"bag_of_songs {getattr(bag_of_songs, '__version__', '?')}, {len(clips)} real clips "
          f"from {clip_dir}, {os.cpu_count()} CPU(s)")
    load = os.getloadavg()[0]
    print(f"Load average before starting: {load:.2f}"
          + (" -- other processes are busy; timings will be slower and noisier"
             if load > 0.5 * (os.cpu_count() or 1) else ""))
    print("Threads: BLAS/OpenMP limited to 1 (threadpoolctl + *_NUM_THREADS=1) in this process; "
          f"threadpools seen: {[p['internal_api'] for p in threadpoolctl.threadpool_info()]}")

    print("\n== 1. Per 30 s clip (one process, one thread; median over clips of the best of "
          f"{args.repeat})")
    per = bench_per_clip(clips, args.repeat)
    ms = per["ms"]
    ours = ms["extract_features"]
    for name, v in ms.items():
        if name == "segment=3.0":
            note = f"   {v / ours:4.2f}x extract_features (whole clip)"
        elif name == "extract_features":
            note = ""
        else:
            note = f"   extract_features is {v / ours:4.1f}x faster"
        print(f"  {name:<22} {v:8.1f} ms" + note)
    print(f"  (the 32 values of extract_features and of the naive way differ by at most "
          f"{per['worst_rel_diff']:.1e} relative; segment=3.0 is extract_features(y, "
          f"segment=3.0): ten 3 s rows per clip from the same STFT, "
          f"{ms['segment=3.0'] / ours:.2f}x the whole-clip cost)")

    tables = None
    if not args.skip_tables:
        print(f"\n== 2. build_feature_table on corpora of {' and '.join(map(str, sizes))} clips "
              f"(the {len(clips)} prepared clips repeated; each run in a fresh process)")
        tables = bench_tables(clips, sizes)
        print("  (timed after a warm-up in the same process: imports, filter banks, and the "
              "worker pool started on the small corpus; tracemalloc from after the warm-up)")
        print(f"  {'clips':>6} {'n_jobs':>6} {'clips/s':>8} {'peak RSS':>10} "
              f"{'numpy/Python peak':>18}")
        for size, r in tables.items():
            one, every = r["one"], r["every"]
            print(f"  {size:>6} {1:>6} {size / one['seconds']:>8.1f} "
                  f"{mb(one['peak_rss_self']):>10} {mb(r['traced']['tracemalloc_peak']):>18}")
            print(f"  {size:>6} {'all':>6} {size / every['seconds']:>8.1f} "
                  f"{mb(every['peak_tree_rss']):>10} {'(process tree)':>18}")
        print(f"  worker pool start-up (first call, all cores, {len(clips)} clips): "
              f"{tables[sizes[0]]['every']['startup_seconds']:.1f} s; imports alone "
              f"(one worker): {tables[sizes[0]]['one']['startup_seconds']:.1f} s")
        print(f"  (holding every clip's audio at once would take {mb(CLIP_BYTES)} per clip: "
              + ", ".join(f"{mb(s * CLIP_BYTES)} for {s}" for s in sizes) + ")")

    print("\n== Summary")
    print(f"  per clip: naive {ms['naive (tuning=0.0)']:.1f} ms, naive with tuning estimation "
          f"{ms['naive (tuning=None)']:.1f} ms, extract_features {ours:.1f} ms")
    speedup = ms["naive (tuning=0.0)"] / ours
    print(f"  speed-up: {speedup:.1f}x over naive (target 5x: "
          f"{'met' if speedup >= 5 else 'NOT met'}), "
          f"{ms['naive (tuning=None)'] / ours:.1f}x over naive with tuning estimation")
    print(f"  segments: extract_features(y, segment=3.0) {ms['segment=3.0']:.1f} ms per clip, "
          f"{ms['segment=3.0'] / ours:.2f}x the whole-clip {ours:.1f} ms (same run)")
    if tables:
        small, big = tables[sizes[0]], tables[sizes[-1]]

        def ratio(key, sub):
            a, b = small[key][sub], big[key][sub]
            return None if not a or not b else b / a

        print(f"  build_feature_table: {sizes[-1] / big['one']['seconds']:.1f} clips/s with one "
              f"worker, {sizes[-1] / big['every']['seconds']:.1f} clips/s with all cores")
        flat = []
        for label, key, sub in (("peak RSS, one worker", "one", "peak_rss_self"),
                                ("numpy/Python peak, one worker", "traced", "tracemalloc_peak"),
                                ("peak RSS of the process tree, all cores", "every",
                                 "peak_tree_rss")):
            r = ratio(key, sub)
            if r is not None:
                flat.append(r)
                print(f"  memory {label}: {mb(small[key][sub])} at {sizes[0]} clips, "
                      f"{mb(big[key][sub])} at {sizes[-1]} clips (ratio {r:.2f})")
        growth = sizes[-1] / sizes[0]
        verdict = "flat" if flat and max(flat) < 1.15 else "NOT flat"
        print(f"  memory is {verdict}: {growth:.0f}x the clips, at most {max(flat):.2f}x the peak")
    print(f"  (load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPU(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
