"""Tests of ``bag_of_songs.parallel.map_parallel`` and of what it guarantees to ``prepare``:
results in order, no more workers than items, errors raised in the parent, workers that die
with their parent after ``kill -9``, and a Ctrl-C that prints one line and no tracebacks, during
the workers' start-up or their work.

The process tests run the real command line in a subprocess and measure what happens after the
signal (which processes are left, which files are written when).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bag_of_songs.parallel import (
    SchedulerError,
    effective_n_jobs,
    map_parallel,
    parent_alive,
    resolve_scheduler,
)

psutil = pytest.importorskip("psutil")

QUIET = {"progress": False}


def square_and_pid(x):
    time.sleep(0.02)
    return x * x, os.getpid(), parent_alive()


def fail_on_three(x):
    if x == 3:
        raise ValueError(f"bad item {x}")
    return x


def die_on_two(x):
    if x == 2:
        time.sleep(1.0)  # the items before it have returned: the error names this one
        os._exit(3)
    return x


def slow_after_first(x):
    if x > 0:
        time.sleep(120)
    return x, os.getpid()


# ---------------------------------------------------------------------------------------------
# map_parallel


def test_results_come_back_in_order_from_worker_processes():
    results = list(map_parallel(square_and_pid, range(12), n_jobs=2, **QUIET))
    assert [r[0] for r in results] == [x * x for x in range(12)]
    pids = {r[1] for r in results}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert all(r[2] for r in results)  # the parent was alive for every job


def test_n_jobs_1_runs_in_this_process():
    results = list(map_parallel(square_and_pid, range(3), n_jobs=1, **QUIET))
    assert [r[1] for r in results] == [os.getpid()] * 3


def test_no_more_workers_than_items():
    assert effective_n_jobs(64, 16) == 16
    assert effective_n_jobs(-1, 1) == 1
    assert effective_n_jobs(3) == 3
    assert effective_n_jobs(-1) >= 1
    with pytest.raises(ValueError, match="n_jobs"):
        effective_n_jobs(0)
    me = psutil.Process()
    seen = set()
    for _ in map_parallel(square_and_pid, range(3), n_jobs=64, **QUIET):
        for c in me.children():
            try:
                if c.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(c.cmdline()):
                    seen.add(c.pid)
            except psutil.Error:
                pass
    assert 1 <= len(seen) <= 3


def test_idle_workers_are_kept_for_the_next_call_then_stop(monkeypatch):
    import bag_of_songs.parallel as P

    def spawned():
        out = set()
        for c in psutil.Process().children():
            try:
                if c.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(c.cmdline()):
                    out.add(c.pid)
            except psutil.Error:
                pass
        return out

    monkeypatch.setattr(P, "POOL_IDLE_SECONDS", 1.0)
    first = {r[1] for r in map_parallel(square_and_pid, range(4), n_jobs=2, **QUIET)}
    second = {r[1] for r in map_parallel(square_and_pid, range(4), n_jobs=2, **QUIET)}
    assert second <= first | spawned()  # the same workers served the second call
    assert first & second
    wait_for(lambda: not spawned(), timeout=10)  # and stopped once idle


def test_lambdas_lazy_items_and_a_bounded_window():
    pulled = []

    def items():
        for i in range(50):
            pulled.append(i)
            yield i

    results = map_parallel(lambda x: x + 1, items(), n_jobs=2, window=3, **QUIET)
    first = next(results)
    assert first == 1
    assert len(pulled) <= 4  # at most the window (plus the one just refilled) was taken
    assert [first, *results] == list(range(1, 51))


def test_an_exception_in_a_job_is_raised_here_and_the_pool_recovers():
    with pytest.raises(ValueError, match="bad item 3"):
        list(map_parallel(fail_on_three, range(6), n_jobs=2, **QUIET))
    assert list(map_parallel(fail_on_three, [0, 1, 2], n_jobs=2, **QUIET)) == [0, 1, 2]


def test_a_worker_that_dies_gives_a_clear_error():
    with pytest.raises(RuntimeError, match="a worker process died while working on item 2"):
        list(map_parallel(die_on_two, range(5), n_jobs=2, **QUIET))
    assert list(map_parallel(die_on_two, [0, 1], n_jobs=2, **QUIET)) == [0, 1]


def test_closing_a_map_early_kills_its_busy_workers_at_once():
    results = map_parallel(slow_after_first, range(6), n_jobs=2, window=2, **QUIET)
    value, pid = next(results)
    assert value == 0
    busy = [c for c in psutil.Process().children() if c.pid == pid]
    t0 = time.monotonic()
    results.close()  # the other items sleep for two minutes: the workers must be killed
    assert time.monotonic() - t0 < 15
    wait_for(lambda: not alive(busy), timeout=5)


def test_stopping_a_map_spares_other_child_processes():
    """Only the pool's own workers are killed, not another child of this process."""
    import multiprocessing

    other = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(60,))
    other.start()
    try:
        with pytest.raises(ValueError, match="bad item 3"):
            list(map_parallel(fail_on_three, range(6), n_jobs=2, **QUIET))
        results = map_parallel(slow_after_first, range(4), n_jobs=2, **QUIET)
        assert next(results)[0] == 0
        results.close()
        assert other.is_alive()
    finally:
        other.kill()
        other.join(10)


def test_a_kept_pool_whose_idle_worker_died_is_replaced():
    first = {r[1] for r in map_parallel(square_and_pid, range(6), n_jobs=2, **QUIET)}
    victim = psutil.Process(min(first))
    victim.kill()  # e.g. the out-of-memory killer, while the pool waits for the next call
    # Gone once the pool noticed (and reaped it): a zombie's threads may still be exiting.
    wait_for(lambda: not psutil.pid_exists(victim.pid), timeout=10)
    results = list(map_parallel(square_and_pid, range(6), n_jobs=2, **QUIET))
    assert [r[0] for r in results] == [x * x for x in range(6)]
    assert victim.pid not in {r[1] for r in results}


def test_the_pool_reads_no_private_attribute_of_the_executor():
    """Issue 17: public API of concurrent.futures only (the private state changes between
    Python versions)."""
    import ast

    import bag_of_songs.parallel as P

    tree = ast.parse(Path(P.__file__).read_text())
    private = {"_processes", "_broken", "_shutdown_thread", "_pending_work_items",
               "_executor_manager_thread", "_call_queue", "_result_queue"}
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    used |= {node.value for node in ast.walk(tree)  # getattr(executor, "_broken", ...)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert not used & private


def test_the_scheduler_comes_from_the_argument_or_the_environment(monkeypatch):
    monkeypatch.delenv("BAG_OF_SONGS_SCHEDULER", raising=False)
    assert resolve_scheduler(None) is None
    assert resolve_scheduler("local") is None
    monkeypatch.setenv("BAG_OF_SONGS_SCHEDULER", "tcp://10.1.2.3:8786")
    assert resolve_scheduler(None) == "tcp://10.1.2.3:8786"
    assert resolve_scheduler("local") is None


def test_a_missing_distributed_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    with pytest.raises(SchedulerError, match=r'pip install "bag-of-songs\[dask\]"'):
        list(map_parallel(abs, [1], scheduler="tcp://127.0.0.1:8786", **QUIET))


def test_an_unreachable_scheduler_is_a_clear_error():
    pytest.importorskip("distributed")
    with pytest.raises(SchedulerError, match="could not reach the Dask scheduler at "
                                             "'tcp://127.0.0.1:9'"):
        list(map_parallel(abs, [1], scheduler="tcp://127.0.0.1:9", **QUIET))


# ---------------------------------------------------------------------------------------------
# The command line under signals


def start_prepare(out: Path, *, demo_size: int = 10) -> subprocess.Popen:
    """``bag-of-songs prepare demo`` with two workers, in its own process group (as a shell
    runs it, so that a Ctrl-C reaches the whole group)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("BAG_OF_SONGS_SCHEDULER", None)
    return subprocess.Popen(
        [sys.executable, "-m", "bag_of_songs.cli", "prepare", "demo", "--out", str(out),
         "--demo-size", str(demo_size), "--n-jobs", "2", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env=env)


def workers_of(proc: subprocess.Popen) -> list:
    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for k in kids:
        try:
            if "spawn_main" in " ".join(k.cmdline()):
                out.append(k)
        except psutil.Error:
            pass
    return out


def wait_for(condition, timeout: float = 60.0, step: float = 0.01):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out")


def alive(procs) -> list:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def wavs(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.is_file() and ".wav" in p.name]


@pytest.mark.parametrize("when", ["start-up", "work"])
def test_ctrl_c_prints_one_line_and_no_tracebacks(tmp_path, when):
    out = tmp_path / "out"
    proc = start_prepare(out)
    try:
        workers = wait_for(lambda: workers_of(proc))  # spawned, still importing
        if when == "work":
            wait_for(lambda: wavs(out))
            workers = workers_of(proc) or workers
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines == ["interrupted: the clips prepared so far are kept; run the same command "
                     "again to resume"], stderr
    wait_for(lambda: not alive(workers), timeout=5)


def test_after_kill_9_the_workers_die_and_nothing_more_is_written(tmp_path):
    out = tmp_path / "out"
    proc = start_prepare(out, demo_size=6)
    try:
        wait_for(lambda: len(wavs(out)) >= 2)
        workers = workers_of(proc)
        assert workers
        proc.kill()  # kill -9 of prepare itself, not of its process group
        killed_at = time.time()
        proc.wait(timeout=10)
        wait_for(lambda: not alive(workers), timeout=2.0)
        gone_after = time.time() - killed_at
        time.sleep(3.0)  # long enough for an orphan to write a clip or two
    finally:
        if proc.poll() is None:
            proc.kill()
        for w in workers_of(proc):
            w.kill()
    latest = max(p.stat().st_mtime for p in wavs(out))
    assert latest <= killed_at + 2.0, f"a clip was written {latest - killed_at:.1f} s after"
    assert gone_after <= 2.0

    # The next run cleans the debris of the killed one and completes the corpus.
    from bag_of_songs.data import list_splits, prepare, read_annotations

    prepare("demo", out, demo_size=6, n_jobs=2, progress=False, log=lambda m: None)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert sum(len(read_annotations(out / s)) for s in list_splits(out)) == 24


# ---------------------------------------------------------------------------------------------
# A Dask cluster (distributed.LocalCluster with two worker processes)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        yield c


def tree(root: Path) -> dict[str, bytes]:
    """Every file of a prepared folder and its bytes (but the lock file, which holds a pid)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".bag-of-songs.lock"}


def mixed_music(root: Path) -> Path:
    import numpy as np
    import soundfile as sf

    for genre, freqs in {"classical": [220, 250, 280], "rock": [440, 470, 500]}.items():
        (root / genre).mkdir(parents=True, exist_ok=True)
        for k, f in enumerate(freqs):
            t = np.arange(int(1.5 * 44100)) / 44100
            x = 0.4 * np.sin(2 * np.pi * f * t)
            sf.write(root / genre / f"{k}.flac", np.stack([x, 0.5 * x], axis=1), 44100)
    (root / "rock" / "broken.mp3").write_bytes(b"ID3" + bytes(range(256)) * 20)
    (root / "rock" / "notes.txt").write_text("not a song\n")
    return root


def test_prepare_on_a_dask_cluster_equals_a_local_run(tmp_path, cluster, monkeypatch):
    from bag_of_songs.data import prepare

    mixed_music(tmp_path / "music")
    quiet = {"progress": False, "log": lambda m: None}
    local, remote = tmp_path / "local", tmp_path / "remote"
    a = prepare(tmp_path / "music", local, splits="train=0.5,test=0.5", n_jobs=2, **quiet)
    monkeypatch.chdir(tmp_path)  # a relative source: the workers get absolute paths
    b = prepare("music", remote, splits="train=0.5,test=0.5",
                scheduler=cluster.scheduler_address, **quiet)
    assert (a.written, a.skipped, a.warnings) == (b.written, b.skipped, b.warnings)
    assert sum(len(s) for s in b.skipped.values()) == 2 and b.n_prepared == 6
    assert len(b.warnings["train"]) == 3  # 1.5 s of audio: mostly padding, listed too
    files_a, files_b = tree(local), tree(remote)
    assert sorted(files_a) == sorted(files_b)
    assert any(name.endswith("skipped.csv") for name in files_a)
    for name in files_a:
        if name == "prepare.json":  # the source as given differs (absolute / relative)
            continue
        assert files_a[name] == files_b[name], name


def test_prepare_reads_the_scheduler_from_the_environment(tmp_path, cluster, monkeypatch):
    import bag_of_songs.parallel as P
    from bag_of_songs.data import prepare

    quiet = {"progress": False, "log": lambda m: None}
    prepare("demo", tmp_path / "local", demo_size=1, split="all", n_jobs=2, **quiet)
    used = []
    real = P._dask_results

    def spy(fn, items, scheduler, window):
        used.append(scheduler)
        return real(fn, items, scheduler, window)

    monkeypatch.setattr(P, "_dask_results", spy)
    monkeypatch.setenv("BAG_OF_SONGS_SCHEDULER", cluster.scheduler_address)
    prepare("demo", tmp_path / "remote", demo_size=1, split="all", n_jobs=2, **quiet)
    assert used == [cluster.scheduler_address]
    assert tree(tmp_path / "local") == tree(tmp_path / "remote")
    prepare("demo", tmp_path / "forced", demo_size=1, split="all", scheduler="local", **quiet)
    assert used == [cluster.scheduler_address]  # "local" overrides the environment


def test_ctrl_c_while_workers_start_is_held_back_and_delivered_after():
    """A Ctrl-C that lands while workers are being spawned (in any thread) is deferred, so it
    cannot cut a worker's start-up data short, and is raised once the workers are started."""
    import signal

    from bag_of_songs.parallel import _sigint_blocked

    reached = []
    with pytest.raises(KeyboardInterrupt):
        with _sigint_blocked():
            signal.raise_signal(signal.SIGINT)
            reached.append("after the signal")
    assert reached == ["after the signal"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_bar_counts_seconds_while_workers_start(monkeypatch):
    """Before the first result the bar shows a running timer, and stops it once results come."""
    import io

    from tqdm import tqdm

    from bag_of_songs import parallel

    bar = tqdm(total=3, file=io.StringIO())
    stop = parallel._start_timer(bar, "starting workers", interval=0.05)
    time.sleep(0.3)
    stop()
    shown = bar.postfix
    assert shown.startswith("starting workers, ") and shown.endswith(" s")
    time.sleep(0.15)
    assert bar.postfix == shown  # the thread has ended: nothing writes over the bar
    assert not any(t.name == "bag-of-songs-timer" for t in threading.enumerate())
    bar.close()


def test_a_caller_that_takes_every_result_then_closes_keeps_the_pool():
    """Taking exactly as many results as items, then closing the map (as the feature tables
    do), abandons nothing: the next call reuses the same workers (one pool per command)."""
    results = map_parallel(square_and_pid, range(6), n_jobs=2, **QUIET)
    first = {next(results)[1] for _ in range(6)}
    results.close()
    again = {r[1] for r in map_parallel(square_and_pid, range(6), n_jobs=2, **QUIET)}
    assert again & first  # the same worker processes (a killed pool would give new ones)
