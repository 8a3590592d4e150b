"""Run one job per item in worker processes (or on a Dask cluster) and get the results in order.

:func:`map_parallel` is what ``prepare`` (decoding) and feature extraction use. It is generic:
``fn`` takes one item and returns a result that can be pickled; nothing here knows about audio.

What it guarantees, locally:

- at most ``min(n_jobs, cores, items)`` worker processes, started with the ``spawn`` method
  (no fork of a process that holds threads);
- workers ignore Ctrl-C (SIGINT): the parent alone handles it, stops the workers and raises
  ``KeyboardInterrupt`` once, so a Ctrl-C prints no tracebacks from workers, even during
  their start-up;
- workers die with their parent: on Linux the kernel kills them when the parent dies
  (``PR_SET_PDEATHSIG``), and everywhere each job checks that its parent is alive before it
  starts (:func:`parent_alive`; a job that writes files should check again before it writes);
- a bounded number of items is in flight (``window``), so memory stays flat however many
  items there are, and ``items`` may be a lazy iterator.

With ``scheduler="tcp://host:port"`` (or ``$BAG_OF_SONGS_SCHEDULER``) the jobs run on an
existing Dask cluster through ``distributed`` (an optional extra: ``pip install
"bag-of-songs[dask]"``); the results come back to this process, in the same order.

The local pool is the standard library's ``concurrent.futures.ProcessPoolExecutor``, used
through public API only: its workers are started through a ``spawn`` context that records each
``multiprocessing.Process`` it creates, so an interrupted map kills exactly its own workers
(``Process.kill``, even while they start up) and a kept pool whose worker died is recognised
(``Process.sentinel``); a pool this module shuts down is dropped from its registry at once.
joblib's loky executor (``get_reusable_executor``) was tried instead and not kept: it is one
executor per process, shared with ``joblib.Parallel`` (which ``cnn`` uses), and calling
``joblib.Parallel`` after ``get_reusable_executor`` in one session fails inside joblib
(``AttributeError: '_ReusablePoolExecutor' object has no attribute '_temp_folder_manager'``),
while a private ``ProcessPoolExecutor`` shares nothing with joblib.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 5: parallel decoding).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import SchedulerError

__all__ = ["SchedulerError", "map_parallel", "parent_alive", "resolve_scheduler",
           "effective_n_jobs", "progress_bar_class", "SCHEDULER_ENV", "POOL_IDLE_SECONDS"]

#: Environment variable read when ``scheduler`` is not given (e.g. set it for the notebooks).
SCHEDULER_ENV = "BAG_OF_SONGS_SCHEDULER"

_DASK_HINT = 'install the optional extra: pip install "bag-of-songs[dask]"'




def progress_bar_class():
    """The tqdm class for progress bars: a notebook widget where ipywidgets is installed, else
    text on stderr (tqdm.auto would warn "IProgress not found" in a kernel without it, even
    for a disabled bar)."""
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        from tqdm import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm


# ---------------------------------------------------------------------------------------------
# Worker side

_PARENT_PID: int | None = None  # set in worker processes started by map_parallel
_FN_CACHE: tuple[bytes, Callable] | None = None  # the last job function a worker unpickled


def parent_alive() -> bool:
    """Whether the process that started this worker is still alive.

    In a worker process started by :func:`map_parallel`: ``False`` once its parent has died
    (the worker was re-parented). Anywhere else (the main process, a Dask worker): ``True``.
    A job that writes files should call it just before writing, and return without writing
    when it is ``False``.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 5: parallel decoding).
    """
    return _PARENT_PID is None or os.getppid() == _PARENT_PID


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _worker_init(parent_pid: int) -> None:
    global _PARENT_PID
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked at spawn
    _PARENT_PID = parent_pid
    _die_with_parent()
    if not parent_alive():  # the parent died before the death signal was armed
        os._exit(1)


def _cloudpickle():
    """cloudpickle (a dependency of joblib), which also sends lambdas and notebook functions."""
    try:
        import cloudpickle
    except ImportError:  # older joblib vendored it
        from joblib.externals import cloudpickle
    return cloudpickle


def _run_job(fn_bytes: bytes, item):
    global _FN_CACHE
    if not parent_alive():
        os._exit(1)  # an orphan: stop at once, write nothing
    if _FN_CACHE is None or _FN_CACHE[0] != fn_bytes:
        _FN_CACHE = (fn_bytes, _cloudpickle().loads(fn_bytes))
    return _FN_CACHE[1](item)


# ---------------------------------------------------------------------------------------------
# Parent side


def effective_n_jobs(n_jobs: int = -1, n_items: int | None = None) -> int:
    """How many workers ``n_jobs`` means here: joblib's convention, capped by the items.

    Parameters
    ----------
    n_jobs : int, not 0
        Workers; negative counts from the number of usable cores (-1 = all, -2 = all but
        one).
    n_items : int, optional
        No more workers than items.

    Returns
    -------
    n : int >= 1

    Raises
    ------
    ValueError
        When ``n_jobs`` is 0.
    """
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs must be a positive count, or negative (-1: all cores)")
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    n = n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)
    if n_items is not None:
        n = min(n, max(1, int(n_items)))
    return max(1, n)


def resolve_scheduler(scheduler: Any = None) -> Any:
    """The scheduler to use: ``scheduler``, else ``$BAG_OF_SONGS_SCHEDULER``, else local.

    Parameters
    ----------
    scheduler : str, distributed.Client or None
        ``None`` (read the environment variable), ``"local"`` (worker processes on this
        machine, whatever the environment says), a Dask scheduler address such as
        ``"tcp://10.0.0.5:8786"``, or a connected ``distributed.Client``.

    Returns
    -------
    scheduler : None (local) or the address or client to use
    """
    if scheduler is None:
        scheduler = os.environ.get(SCHEDULER_ENV, "").strip() or None
    if isinstance(scheduler, str):
        scheduler = scheduler.strip()
        if scheduler in ("", "local"):
            return None
    return scheduler


@contextlib.contextmanager
def _sigint_blocked():
    """Hold Ctrl-C back while workers are spawned, and deliver it afterwards.

    SIGINT is blocked in this thread (the workers inherit the mask, so a Ctrl-C during their
    start-up waits until they ignore it, see ``_worker_init``) and, in the main thread,
    Python's handler is deferred too: the signal may land in another thread (the pool's
    manager or feeder thread), and raising KeyboardInterrupt between starting a worker and
    writing its start-up data would leave the worker reading a closed pipe (a traceback from
    ``spawn_main``). A Ctrl-C that arrived meanwhile is handled on leaving.
    """
    deferred: list = []
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGINT)  # None: not set from Python; left alone
        if previous is not None:
            signal.signal(signal.SIGINT, lambda signum, frame: deferred.append(frame))
    old = (signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
           if hasattr(signal, "pthread_sigmask") else None)
    try:
        yield
    finally:
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)  # a pending Ctrl-C: deferred
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
            if deferred:
                if callable(previous):
                    previous(signal.SIGINT, deferred[-1])  # KeyboardInterrupt by default
                elif previous == signal.SIG_DFL:
                    signal.raise_signal(signal.SIGINT)


class _SpawnContext:
    """The ``spawn`` context, which also keeps the worker processes it starts for one executor.

    ``ProcessPoolExecutor`` starts each worker with ``mp_context.Process(...)``; recording them
    here, in this process, at creation, lets :func:`_kill_workers` stop exactly this pool's
    workers (even those still starting up) through ``Process.kill``, which never signals a
    process that was already reaped. Everything else is the standard spawn context's.
    """

    def __init__(self) -> None:
        import multiprocessing

        self._context = multiprocessing.get_context("spawn")
        self._guard = threading.Lock()
        self._started: list = []

    def __getattr__(self, name: str):
        return getattr(self._context, name)

    def Process(self, *args, **kwargs):  # noqa: N802 - the name multiprocessing contexts use
        process = self._context.Process(*args, **kwargs)
        with self._guard:
            self._started.append(process)
        return process

    def processes(self) -> list:
        """The worker processes started so far (alive or not)."""
        with self._guard:
            return list(self._started)


class _Pool:
    """A ``ProcessPoolExecutor`` and the worker processes its context started."""

    def __init__(self, n_workers: int) -> None:
        from concurrent.futures import ProcessPoolExecutor

        self.context = _SpawnContext()
        self.executor = ProcessPoolExecutor(
            max_workers=n_workers, mp_context=self.context,
            initializer=_worker_init, initargs=(os.getpid(),))

    def healthy(self) -> bool:
        """Whether every worker started so far is running (a worker only exits when the pool is
        shut down, so one that ended, e.g. killed while idle, has broken the pool).

        Read from the processes' sentinels, which become ready when a process ends whoever
        reaps it (``Process.is_alive`` says "alive" for a child another thread reaped).
        """
        from multiprocessing.connection import wait

        try:
            sentinels = [p.sentinel for p in self.context.processes()]
        except ValueError:  # a process that never started, or was closed
            return False
        return not wait(sentinels, timeout=0)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def _kill_workers(pool: _Pool) -> None:
    for p in pool.context.processes():
        with contextlib.suppress(Exception):
            p.kill()  # a no-op for a process that has ended


# One pool of workers is kept between calls from the main thread, so that the start-up of the
# workers (a fresh interpreter importing numpy, soundfile, ...) is paid once per session, not
# once per split. It is dropped when interrupted or broken, after POOL_IDLE_SECONDS without
# work (so a notebook does not hold idle workers' memory), and at exit.
_POOL: dict = {}
_POOL_GUARD = threading.Lock()

#: Idle worker processes kept for the next :func:`map_parallel` call stop after this long.
POOL_IDLE_SECONDS = 60.0


def _retire_pool(pool: _Pool) -> None:
    with _POOL_GUARD:
        if _POOL.get("pool") is not pool or _POOL.get("busy"):
            return
        _POOL.clear()
    pool.shutdown()


def _acquire_pool(n_workers: int) -> tuple[_Pool, bool]:
    """A pool of at least ``n_workers`` (no more than needed when one is started), and whether
    it is the shared one (kept after the call).

    A kept pool is dropped from ``_POOL`` whenever this module shuts it down (idle, broken,
    interrupted, at exit), so only its workers' health needs a check here.
    """
    if threading.current_thread() is not threading.main_thread():
        return _Pool(n_workers), False  # the death signal follows the spawning thread
    with _POOL_GUARD:
        timer = _POOL.pop("timer", None)
        if timer is not None:
            timer.cancel()
        if _POOL.get("busy"):  # a map is already running (nested use): a private pool
            return _Pool(n_workers), False
        pool = _POOL.get("pool")
        usable = (pool is not None and _POOL.get("pid") == os.getpid()
                  and _POOL.get("n", 0) >= n_workers and pool.healthy())
        if not usable:
            if pool is not None and _POOL.get("pid") == os.getpid():
                pool.shutdown()  # idle (too small) or broken
            _POOL.clear()
            _POOL.update(pool=_Pool(n_workers), n=n_workers, pid=os.getpid())
        _POOL["busy"] = True
        return _POOL["pool"], True


def _release_pool(pool: _Pool, shared: bool, *, broken: bool) -> None:
    if broken:
        _kill_workers(pool)
    if not shared:
        pool.shutdown()
        return
    with _POOL_GUARD:
        _POOL["busy"] = False
        if broken:
            _POOL.clear()
        else:
            timer = threading.Timer(POOL_IDLE_SECONDS, _retire_pool, args=(pool,))
            timer.daemon = True
            timer.start()
            _POOL["timer"] = timer
    if broken:
        pool.shutdown()


@atexit.register
def _shutdown_pool() -> None:
    pool = _POOL.get("pool")
    if pool is not None and _POOL.get("pid") == os.getpid():
        _POOL.clear()
        with contextlib.suppress(Exception):
            pool.executor.shutdown(wait=False, cancel_futures=True)


def _local_results(fn, items: Iterator, n_workers: int, window: int) -> Iterator:
    from concurrent.futures.process import BrokenProcessPool

    fn_bytes = _cloudpickle().dumps(fn)
    pool, shared = _acquire_pool(n_workers)
    pending: collections.deque = collections.deque()
    done = False
    index = 0

    def died(i) -> str:
        where = f" while working on item {i}" if i is not None else ""
        return (f"a worker process died{where} (killed, out of memory, or a crash in a native "
                f"library); run with n_jobs=1 to see the error")

    def submit(item):
        nonlocal pool, shared
        try:
            with _sigint_blocked():  # workers are spawned on demand, inside submit
                return pool.executor.submit(_run_job, fn_bytes, item)
        except BrokenProcessPool:
            if index or not shared:
                raise
        # The kept pool broke while it waited for this call (a worker was killed): a new one.
        _release_pool(pool, shared, broken=True)
        pool, shared = _acquire_pool(n_workers)
        with _sigint_blocked():
            return pool.executor.submit(_run_job, fn_bytes, item)

    def submit_more():
        nonlocal index
        while len(pending) < window:
            try:
                item = next(items)
            except StopIteration:
                return
            try:
                fut = submit(item)
            except BrokenProcessPool as exc:
                if pending:  # their results carry the error, with the item it came from
                    return
                raise RuntimeError(died(None)) from exc
            pending.append((index, fut))
            index += 1

    try:
        submit_more()
        while pending:
            i, fut = pending.popleft()
            try:
                result = fut.result()
            except BrokenProcessPool as exc:
                raise RuntimeError(died(i)) from exc
            submit_more()
            if not pending:
                # The last result: a caller that takes exactly as many results as it gave
                # items and then closes the map abandons nothing, so the pool is kept.
                done = True
            yield result
        done = True
    finally:
        for _, fut in pending:
            fut.cancel()
        # Interrupted, failed or abandoned: stop the workers now (they may be mid-job).
        _release_pool(pool, shared, broken=not done)


def _dask_client(scheduler):
    try:
        import distributed
    except ImportError as exc:
        raise SchedulerError(
            f"scheduler={scheduler!r} needs the Dask scheduler client `distributed`, which is "
            f"not installed; {_DASK_HINT}") from exc
    if isinstance(scheduler, distributed.Client):
        return scheduler, False
    if not isinstance(scheduler, str):
        raise SchedulerError(f"scheduler must be an address such as 'tcp://host:8786', 'local' "
                             f"or a distributed.Client, got {type(scheduler).__name__}")
    try:
        client = distributed.Client(scheduler, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SchedulerError(
            f"could not reach the Dask scheduler at {scheduler!r} ({type(exc).__name__}: "
            f"{exc}); start it with `dask scheduler` and its workers with `dask worker "
            f"{scheduler}`, and check that this machine can reach its port") from exc
    return client, True


def _dask_results(fn, items: Iterator, scheduler, window: int | None) -> Iterator:
    client, own = _dask_client(scheduler)
    pending: collections.deque = collections.deque()
    try:
        if window is None:
            window = 2 * max(1, sum(client.nthreads().values()))

        def submit_more():
            while len(pending) < window:
                try:
                    item = next(items)
                except StopIteration:
                    return
                pending.append(client.submit(fn, item, pure=False))

        submit_more()
        while pending:
            fut = pending.popleft()
            result = fut.result()
            fut.release()
            submit_more()
            yield result
    finally:
        for fut in pending:
            with contextlib.suppress(Exception):
                fut.cancel()
        if own:
            with contextlib.suppress(Exception):
                client.close()


def _start_timer(bar, what: str, interval: float = 1.0) -> Callable[[], None]:
    """Show ``what, N s`` on the bar every ``interval`` seconds until the returned stop().

    Before the first result the bar has nothing to update; without this it would sit still
    while the workers import their libraries, with no sign that time passes. stop() returns
    once the timer thread has ended, so it never writes over what the caller shows next.
    """
    done = threading.Event()
    t0 = time.monotonic()

    def tick():
        while not done.wait(interval):
            bar.set_postfix_str(f"{what}, {time.monotonic() - t0:.0f} s", refresh=True)

    bar.set_postfix_str(what, refresh=True)
    thread = threading.Thread(target=tick, name="bag-of-songs-timer", daemon=True)
    thread.start()

    def stop() -> None:
        done.set()
        thread.join()

    return stop


def map_parallel(
    fn: Callable[[Any], Any],
    items: Iterable,
    *,
    n_jobs: int = -1,
    scheduler: Any = None,
    desc: str | None = None,
    progress: bool = True,
    total: int | None = None,
    window: int | None = None,
) -> Iterator:
    """Apply ``fn`` to every item in worker processes and yield the results in item order.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 5: parallel decoding).

    Parameters
    ----------
    fn : callable
        One job: ``fn(item) -> result``. Any callable cloudpickle can send (a module-level
        function, a lambda, a function defined in a notebook); the result must pickle. An
        exception in ``fn`` ends the map and is raised here (catch it inside ``fn`` to turn
        bad items into results, as ``prepare`` does for undecodable files).
    items : iterable
        The items; consumed lazily (at most ``window`` are in flight at a time).
    n_jobs : int, not 0
        Local worker processes (-1 = all cores), never more than the items (see
        :func:`effective_n_jobs`). With 1, the jobs run in this process, one after another.
        Ignored with a Dask scheduler.
    scheduler : str, distributed.Client or None
        ``None``: ``$BAG_OF_SONGS_SCHEDULER`` when set, else local processes. ``"local"``:
        local processes. ``"tcp://host:port"``: an existing Dask cluster (needs
        ``distributed``; the items must make sense on the workers, e.g. paths on storage
        every worker can read). See :func:`resolve_scheduler`.
    desc : str, optional
        Label of the progress bar.
    progress : bool
        Show a progress bar on stderr.
    total : int, optional
        Number of items, for the progress bar and the worker count (default ``len(items)``
        when it has one).
    window : int, optional
        Items in flight at a time (default twice the workers).

    Yields
    ------
    result
        ``fn(item)`` for each item, in the order of ``items``.

    Raises
    ------
    SchedulerError
        When the Dask scheduler cannot be used.
    RuntimeError
        When a local worker process dies (killed, or a crash in a native library).
    KeyboardInterrupt
        On Ctrl-C: the workers are stopped first.

    Notes
    -----
    Close the generator when you stop early (``with contextlib.closing(map_parallel(...))``):
    that stops the workers at once. After ``kill -9`` of this process, local workers die
    with it (Linux) or before their next job (elsewhere).

    Examples
    --------
    >>> list(map_parallel(abs, [-1, 2, -3], n_jobs=1, progress=False))
    [1, 2, 3]
    """
    tqdm = progress_bar_class()
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    scheduler = resolve_scheduler(scheduler)
    n_workers = effective_n_jobs(n_jobs, total)
    if window is not None and window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    it = iter(items)
    if scheduler is not None:
        results = _dask_results(fn, it, scheduler, window)
    elif n_workers == 1:
        results = (fn(item) for item in it)
    else:
        results = _local_results(fn, it, n_workers, window or 2 * n_workers)
    with contextlib.closing(results), tqdm(total=total, desc=desc, disable=not progress,
                                           file=sys.stderr, leave=True) as bar:
        stop_timer = None
        if (n_workers > 1 or scheduler is not None) and not bar.disable:
            stop_timer = _start_timer(bar, "starting workers")
        started = False
        try:
            for result in results:
                if not started:
                    # The clock starts with the first result: the workers' start-up (imports,
                    # seconds) must not make the first clip's rate and ETA look like an hour.
                    started = True
                    if stop_timer is not None:
                        stop_timer()
                        stop_timer = None
                    bar.set_postfix_str("", refresh=False)
                    bar.reset(total=total)
                bar.update(1)
                yield result
        finally:
            if stop_timer is not None:
                stop_timer()
