"""Benchmark of ``prepare`` past one process: clips per second with 1 and 2 workers, local
worker processes and a Dask cluster (``distributed.LocalCluster``) on this machine.

Run from the repository root::

    python benchmarks/bench_scale.py [--shared PATH] [--clips N] [--repeat R]

``--shared`` is the folder of real clips (genre subfolders of mp3 files), by default
``../shared/data/emotify-dev`` beside the repository (or ``$BAG_OF_SONGS_SHARED/data/emotify-dev``).
Without it the benchmark prints a note and exits 0.

Each configuration prepares the same ``--clips`` real mp3 clips (44.1 kHz stereo, decoded,
mixed, resampled to 22,050 Hz, written as 30 s float WAVs) into a fresh folder, ``--repeat``
times; the best time counts. Set-up is apart: the local worker pool and the cluster are
started, and warmed on a few clips, before the clock starts, so the figures are the steady
rate. Configurations:

- local, 1 worker: ``n_jobs=1`` (decoding in this process);
- local, 2 workers: ``n_jobs=2`` (worker processes);
- cluster, 1 and 2 workers: ``scheduler=<LocalCluster address>``, one thread per worker
  process; decoded clips travel back to this process, which writes them.

Ratios are against "local, 1 worker" measured in the same run. The machine has 2 cores shared
with other work, so 2 workers can at best double the rate. This is a script, not a test.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread per process, for a fair comparison

import argparse  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_SHARED = Path(os.environ.get("BAG_OF_SONGS_SHARED", ROOT.parent / "shared"))
DEFAULT_CLIPS = _SHARED / "data" / "emotify-dev"
GENRES = ("classical", "electronic", "pop", "rock")


def link_clips(src: Path, n: int, work: Path) -> Path:
    """A genre folder of ``n`` real clips (symbolic links), the genres taken in turn."""
    per_genre = [sorted((src / g).glob("*.mp3")) for g in GENRES]
    root = work / "source"
    k = 0
    while k < n:
        for files in per_genre:
            if k >= n or k // len(GENRES) >= len(files):
                continue
            p = files[k // len(GENRES)]
            (root / p.parent.name).mkdir(parents=True, exist_ok=True)
            os.symlink(p, root / p.parent.name / p.name)
            k += 1
        if all(k // len(GENRES) >= len(f) for f in per_genre):
            break
    return root


def timed_prepare(source: Path, work: Path, repeat: int, **kwargs) -> tuple[float, int]:
    from bag_of_songs.data import prepare

    best, n = float("inf"), 0
    for r in range(repeat):
        out = work / f"out-{time.monotonic_ns()}-{r}"
        t0 = time.perf_counter()
        report = prepare(source, out, split="all", progress=False, log=lambda m: None,
                         **kwargs)
        best = min(best, time.perf_counter() - t0)
        n = report.n_prepared
        shutil.rmtree(out)
    return best, n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_CLIPS,
                        help="genre folders of real mp3 clips (default: %(default)s)")
    parser.add_argument("--clips", type=int, default=60, help="clips per run (default 60)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per setup (default 2)")
    args = parser.parse_args(argv)
    if not args.shared.is_dir():
        print(f"no real clips at {args.shared}; pass --shared PATH (nothing measured)")
        return 0
    try:
        import distributed
    except ImportError:
        distributed = None
        print('distributed is not installed (pip install "bag-of-songs[dask]"): local only')

    work = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    try:
        source = link_clips(args.shared, args.clips, work)
        warm = link_clips(args.shared, 4, work / "warm")
        n_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count()
        print(f"prepare, {args.clips} real mp3 clips (44.1 kHz stereo) -> 30 s float WAVs; "
              f"best of {args.repeat}; {n_cores} cores (shared)")
        rows = []
        for n_jobs in (1, 2):
            timed_prepare(warm, work, 1, n_jobs=n_jobs)  # imports, worker start-up
            t, n = timed_prepare(source, work, args.repeat, n_jobs=n_jobs)
            rows.append(("local", n_jobs, t, n))
        if distributed is not None:
            for n_workers in (1, 2):
                t0 = time.perf_counter()
                with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                              processes=True, dashboard_address=None) as c:
                    started = time.perf_counter() - t0
                    timed_prepare(warm, work, 1, scheduler=c.scheduler_address)
                    t, n = timed_prepare(source, work, args.repeat,
                                         scheduler=c.scheduler_address)
                rows.append((f"cluster (start-up {started:.1f} s)", n_workers, t, n))
        ref = rows[0][3] / rows[0][2]
        print(f"{'setup':<28} {'workers':>7} {'seconds':>8} {'clips/s':>8} {'ratio':>6}")
        for setup, workers, t, n in rows:
            rate = n / t
            print(f"{setup:<28} {workers:>7} {t:>8.2f} {rate:>8.2f} {rate / ref:>6.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
