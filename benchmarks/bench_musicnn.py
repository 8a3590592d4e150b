"""Benchmark of the musicnn embedding: per-clip cost of the front end and the network.

Run from the repository root::

    python benchmarks/bench_musicnn.py [--clips N] [--shared PATH] [--repeat R]

``--shared`` is the folder of real clips (genre subfolders of mp3 files), by default
``../shared/data/emotify-dev`` beside the repository (or ``$BAG_OF_SONGS_SHARED/data/emotify-dev``).
Without it, or without the musicnn checkpoints (``pip install --no-deps musicnn==0.1.0``), the
benchmark prints a note and exits 0.

With one torch thread and BLAS limited to one thread (one core per clip, as in
``build_feature_table``'s worker processes), on 30 s clips (median over clips of the best of
``--repeat`` runs, after a warm-up):

1. network load (once per process and model): read and check the checkpoint, build the port;
2. front end: :func:`musicnn_input` from a 16 kHz signal, and from a prepared 22,050 Hz clip
   (including the resampling to 16 kHz);
3. network: :func:`embed_patches` (10 patches) for ``batch_size`` 1, 2 and 10, and its peak
   memory above the loaded process (each batch size in a fresh process);
4. for scale, ``extract_features`` (the study's hand-crafted features) on the same clip, and
   the ratio of the embedding's cost to it;
5. inside ``build_feature_table`` (``--table-clips`` clips prepared into a temporary folder):
   clips per second of ``feature_set`` seed, musicnn and seed+musicnn tables with 1 worker (in
   this process) and 2 worker processes, each built twice: "cold" (workers started and the
   network loaded by this build) and "warm" (the pooled workers of the build before, network
   loaded), and the cost of each against the seed table in the same run;
6. on a GPU, when torch sees one: the network with every patch in one batch;
7. torch threads for a direct call (``embed_patches``, as notebooks and ``extract_features``
   make it): the default (one thread) against every core (``n_threads=None`` with
   ``OMP_NUM_THREADS`` = cores), each in a fresh process, on an idle machine and with one
   busy-looping process per core beside it (a busy machine), so the default can be checked
   never to lose;
8. both models against one (``musicnn_model=["MSD_musicnn", "MTT_musicnn"]``, as
   ``--musicnn-model MSD_musicnn,MTT_musicnn``): ``extract_features`` of the embedding (mean
   and std over the patches) from a prepared 22,050 Hz clip, per clip on one core, with the
   ratio of the two measured in the same run (one decode and one front end serve both
   networks, but the network is most of the cost: expect about twice one model).
   ``--pair-only`` runs this section alone.

Absolute times are only meaningful on an idle machine (other work stretches them by 2-3x on
this project's 2-core machine); the ratios, measured side by side in one run, hold better.

This is a script, not a test: timings depend on the machine (and on other work on it).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread per process, as in the feature workers

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_SHARED = Path(os.environ.get("BAG_OF_SONGS_SHARED", ROOT.parent / "shared"))
DEFAULT_CLIPS = _SHARED / "data" / "emotify-dev"
GENRES = ("classical", "electronic", "pop", "rock")
BATCH_SIZES = (1, 2, 10)


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


def peak_rss_mb() -> float:
    """Peak resident memory of this process image, in MB.

    ``VmHWM`` of ``/proc/self/status`` where there is one (``ru_maxrss`` would carry the
    parent's peak over the fork and exec), else ``ru_maxrss``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def memory_child(batch_size: int, patches_file: str) -> None:
    """In a fresh process: peak RSS of one embedding above the process with the net loaded."""
    import torch

    from bag_of_songs.musicnn import embed_patches

    torch.set_num_threads(1)
    patches = np.load(patches_file)
    embed_patches(patches[:1], batch_size=1)  # loads the network, warms up
    base = peak_rss_mb()
    embed_patches(patches, batch_size=batch_size)
    print(json.dumps({"base_mb": base, "extra_mb": peak_rss_mb() - base}))


def table_speed(clips: list[Path], *, n_jobs_list=(1, 2),
                feature_sets=("seed", "musicnn", "seed+musicnn")) -> None:
    """Clips per second of ``build_feature_table`` for each feature set and worker count."""
    import shutil
    import tempfile

    from bag_of_songs.data import prepare
    from bag_of_songs.features import build_feature_table

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        for path in clips:
            (src / path.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / path.parent.name / path.name)
        data = Path(tmp) / "data"
        prepare(src, data, split="train", n_jobs=2, progress=False, log=lambda m: None)
        n = len(clips)
        print(f"\nbuild_feature_table on {n} prepared 30 s clips (wall clock, clips per "
              "second; cold = first build with this worker count, warm = again):")
        rates: dict[tuple[str, int], float] = {}
        for n_jobs in n_jobs_list:
            for fs in feature_sets:
                walls = []
                for _ in range(2):
                    t = time.perf_counter()
                    build_feature_table(data / "train", feature_set=fs, n_jobs=n_jobs,
                                        progress=False, log=lambda m: None)
                    walls.append(time.perf_counter() - t)
                rates[fs, n_jobs] = n / walls[1]
                print(f"  {fs:13s} {n_jobs} worker{'s' if n_jobs > 1 else ' '}: "
                      f"cold {n / walls[0]:6.2f} clips/s, warm {n / walls[1]:6.2f} clips/s "
                      f"({1000 * walls[1] / n:6.0f} ms per clip)")
        for n_jobs in n_jobs_list:
            ref = rates["seed", n_jobs]
            others = ", ".join(f"{fs} {ref / rates[fs, n_jobs]:.0f}x" for fs in feature_sets
                               if fs != "seed")
            print(f"  cost against the seed table with {n_jobs} worker(s): {others}")
        for fs in feature_sets:
            if 2 in n_jobs_list and 1 in n_jobs_list:
                print(f"  {fs}: 2 workers {rates[fs, 2] / rates[fs, 1]:.2f}x the clips/s of 1")


def _threads_child(patches_file: str, n_threads: str, repeat: int) -> None:
    """In a fresh process: seconds per clip of embed_patches with these threads (JSON)."""
    from bag_of_songs import musicnn as mn

    patches = np.load(patches_file)
    n = None if n_threads == "all" else int(n_threads)
    mn.embed_patches(patches, layers=["penultimate"], n_threads=n)  # load the network
    print(json.dumps({"s": best_time(
        lambda: mn.embed_patches(patches, layers=["penultimate"], n_threads=n), repeat)}))


def _burn(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def thread_comparison(clip: Path, repeat: int) -> None:
    """Section 7: one torch thread (the default) against every core, idle and busy."""
    import multiprocessing
    import tempfile

    from bag_of_songs import musicnn as mn
    from bag_of_songs.data import load_audio

    cores = os.cpu_count() or 1
    env = dict(os.environ, OMP_NUM_THREADS=str(cores), MKL_NUM_THREADS=str(cores))
    print(f"\nembed_patches of one clip, fresh process each, {cores} cores "
          "(best of the repeats):")
    with tempfile.TemporaryDirectory() as tmp:
        pfile = os.path.join(tmp, "patches.npy")
        np.save(pfile, mn.musicnn_input(load_audio(clip, sr=16000), sr=16000))
        for load in ("idle", "busy"):
            burners = []
            if load == "busy":  # one spinning process per core, as other work would be
                ctx = multiprocessing.get_context("spawn")
                burners = [ctx.Process(target=_burn, args=(600.0,), daemon=True)
                           for _ in range(cores)]
                for b in burners:
                    b.start()
            try:
                res = {}
                for n in ("1", "all"):
                    out = subprocess.run([sys.executable, __file__, "--_threads", n,
                                          "--_patches", pfile, "--repeat", str(repeat)],
                                         check=True, capture_output=True, text=True,
                                         env=env).stdout
                    res[n] = json.loads(out.strip().splitlines()[-1])["s"]
            finally:
                for b in burners:
                    b.terminate()
            print(f"  {load:4s}: 1 thread (default) {1000 * res['1']:6.0f} ms, {cores} threads "
                  f"{1000 * res['all']:6.0f} ms ({res['all'] / res['1']:.2f}x the default)")


PAIR = ("MSD_musicnn", "MTT_musicnn")


def pair_cost(clips: list[Path], repeat: int) -> None:
    """Section 8: the embedding of both models against one, per clip, one core, one run."""
    from threadpoolctl import threadpool_limits

    from bag_of_songs.data import load_audio
    from bag_of_songs.features import extract_features

    stats = ("mean", "std")
    times = {"MSD_musicnn": [], "MTT_musicnn": [], "both": []}
    with threadpool_limits(limits=1):
        y = load_audio(clips[0])
        extract_features(y, feature_set="musicnn", musicnn_model=PAIR)  # warm-up: both nets
        for path in clips:
            y = load_audio(path)
            for name in times:
                model = PAIR if name == "both" else name
                times[name].append(best_time(
                    lambda m=model, y=y: extract_features(y, feature_set="musicnn", stats=stats,
                                                          musicnn_model=m), repeat))
    ms = {k: 1000 * float(np.median(v)) for k, v in times.items()}
    print(f"\nembedding of a prepared 30 s clip, stats mean,std, one core (median over "
          f"{len(clips)} clips of the best of {repeat}; absolute times need an idle "
          "machine):")
    for name, v in ms.items():
        label = "MSD_musicnn,MTT_musicnn" if name == "both" else name
        print(f"  {label:24s} {v:8.1f} ms")
    print(f"  both models: {ms['both'] / ms['MSD_musicnn']:.2f}x MSD_musicnn alone, "
          f"{ms['both'] / (ms['MSD_musicnn'] + ms['MTT_musicnn']):.2f}x the two run apart "
          "(one decode and one front end shared)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8, help="clips to time (default 8)")
    parser.add_argument("--shared", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--table-clips", type=int, default=8,
                        help="clips for the build_feature_table figures (default 8; 0: skip)")
    parser.add_argument("--pair-only", action="store_true",
                        help="only section 8: both musicnn models against one")
    parser.add_argument("--_memory", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--_patches", help=argparse.SUPPRESS)
    parser.add_argument("--_threads", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._memory:
        memory_child(args._memory, args._patches)
        return 0
    if args._threads:
        _threads_child(args._patches, args._threads, args.repeat)
        return 0

    from bag_of_songs import musicnn as mn

    if not args.shared.is_dir():
        print(f"no clips at {args.shared}: nothing to benchmark")
        return 0
    try:
        for model in PAIR:
            mn.musicnn_checkpoint_dir(model)
    except mn.MusicnnError as exc:
        print(f"note: {exc}")
        return 0

    import torch
    from threadpoolctl import threadpool_limits

    from bag_of_songs.data import load_audio
    from bag_of_songs.features import extract_features

    torch.set_num_threads(1)
    clips = pick_clips(args.shared, args.clips)
    print(f"{len(clips)} clips of 30 s from {args.shared}; torch {torch.__version__}, "
          f"1 thread; {os.cpu_count()} cores on this machine")
    if args.pair_only:
        pair_cost(clips, args.repeat)
        return 0

    t = time.perf_counter()
    mn.load_musicnn("MSD_musicnn")
    load_ms = 1000 * (time.perf_counter() - t)
    t = time.perf_counter()
    mn.load_musicnn("MSD_musicnn")
    reload_ms = 1000 * (time.perf_counter() - t)

    times = {k: [] for k in ("front end (16 kHz)", "front end (22,050 Hz, resampled)",
                             *[f"network, batch_size {b}" for b in BATCH_SIZES],
                             "extract_features (study)")}
    with threadpool_limits(limits=1):
        y16 = load_audio(clips[0], sr=16000)
        mn.embed_patches(mn.musicnn_input(y16, sr=16000))  # warm-up: network, filters, plans
        extract_features(load_audio(clips[0]))
        for path in clips:
            y16 = load_audio(path, sr=16000)
            y22 = load_audio(path)
            patches = mn.musicnn_input(y16, sr=16000)
            times["front end (16 kHz)"].append(
                best_time(lambda y=y16: mn.musicnn_input(y, sr=16000), args.repeat))
            times["front end (22,050 Hz, resampled)"].append(
                best_time(lambda y=y22: mn.musicnn_input(y, sr=22050), args.repeat))
            for b in BATCH_SIZES:
                times[f"network, batch_size {b}"].append(best_time(
                    lambda b=b, p=patches: mn.embed_patches(p, layers=["penultimate"],
                                                            batch_size=b), args.repeat))
            times["extract_features (study)"].append(
                best_time(lambda y=y22: extract_features(y), args.repeat))
    ms = {k: 1000 * float(np.median(v)) for k, v in times.items()}

    print(f"\nnetwork load (checkpoint read + CRC + port): {load_ms:.0f} ms first, "
          f"{reload_ms:.0f} ms again (once per worker process and model)")
    print("\nper 30 s clip (10 patches of 3 s), median of the best of "
          f"{args.repeat}, one thread:")
    for k, v in ms.items():
        print(f"  {k:36s} {v:8.1f} ms")
    net = min(ms[f"network, batch_size {b}"] for b in BATCH_SIZES)
    total = ms["front end (22,050 Hz, resampled)"] + net
    ref = ms["extract_features (study)"]
    print(f"\n  embedding of a prepared clip: {total:.0f} ms = {total / ref:.0f}x the study's "
          f"features ({ref:.1f} ms); the network is {net / total:.0%} of it")
    print(f"  a 1,700-song corpus: about {1700 * total / 1000 / 60:.0f} min on one core")

    # Memory, each batch size in a fresh process.
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        pfile = os.path.join(tmp, "patches.npy")
        np.save(pfile, mn.musicnn_input(load_audio(clips[0], sr=16000), sr=16000))
        print("\npeak memory of embed_patches above the loaded process (fresh process each):")
        for b in BATCH_SIZES:
            out = subprocess.run([sys.executable, __file__, "--_memory", str(b),
                                  "--_patches", pfile], check=True, capture_output=True,
                                 text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"  batch_size {b:2d}: +{r['extra_mb']:.0f} MB (process with the network "
                  f"loaded: {r['base_mb']:.0f} MB)")

    if args.table_clips > 0:
        table_speed(pick_clips(args.shared, args.table_clips))

    thread_comparison(clips[0], args.repeat)
    pair_cost(clips, args.repeat)

    if torch.cuda.is_available():
        dev = torch.cuda.get_device_name(0)
        patches = mn.musicnn_input(load_audio(clips[0], sr=16000), sr=16000)
        mn.embed_patches(patches, device="cuda", batch_size=10)

        def on_gpu():
            mn.embed_patches(patches, device="cuda", batch_size=10, layers=["penultimate"])
            torch.cuda.synchronize()

        print(f"\nGPU ({dev}): network {1000 * best_time(on_gpu, args.repeat):.1f} ms per clip "
              "(10 patches in one batch)")
    else:
        print("\nno GPU visible to torch: GPU figures not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
