"""Safe files (:mod:`bag_of_songs.files`): the folder lock's file and the mode of atomic writes.

- The lock file ``.bag-of-songs.lock`` of a folder received from someone else may be a symbolic
  link (to a user's file, or dangling), a hard link, or not a file at all: the lock refuses it
  before writing anything, so no file outside the folder changes or appears.
- The lock is :class:`filelock.FileLock` (issue 17): it excludes other filelock users too.
- An atomic write gives the new file the mode ``open()`` would (``0o666`` less the umask)
  without ever setting the process umask, which other threads share.
"""

from __future__ import annotations

import fcntl
import os
import stat
import threading
from pathlib import Path

import pytest

from bag_of_songs import files
from bag_of_songs.files import LOCK_NAME, FolderLockedError, lock_folder, write_bytes_atomic

VICTIM_TEXT = "a user's own file, outside the corpus\n"


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "home" / "notes.txt"
    victim.parent.mkdir()
    victim.write_text(VICTIM_TEXT)
    return victim


# ---------------------------------------------------------------------------------------------
# The lock file


def test_lock_writes_its_note_into_a_plain_file(tmp_path):
    with lock_folder(tmp_path / "out", what="features"):
        lock = tmp_path / "out" / LOCK_NAME
        assert lock.read_text() == f"features, pid {os.getpid()}\n"
        st = lock.lstat()
        assert stat.S_ISREG(st.st_mode) and st.st_nlink == 1
        assert stat.S_IMODE(st.st_mode) == 0o666 & ~files._umask()
    with lock_folder(tmp_path / "out", what="prepare"):  # the same file, taken again
        assert lock.read_text() == f"prepare, pid {os.getpid()}\n"


def test_a_symlinked_lock_file_is_refused_and_its_target_unchanged(tmp_path):
    victim = _victim(tmp_path)
    before = victim.stat()
    out = tmp_path / "corpus"
    out.mkdir()
    (out / LOCK_NAME).symlink_to(victim)
    with pytest.raises(FolderLockedError, match=r"\.bag-of-songs\.lock is a symbolic link "
                                                r"\(to .*notes\.txt\).*remove the link"):
        with lock_folder(out, what="features"):
            pytest.fail("the lock was taken through a symbolic link")
    assert victim.read_text() == VICTIM_TEXT
    assert victim.stat().st_mtime_ns == before.st_mtime_ns
    assert (out / LOCK_NAME).is_symlink()  # refused, not "repaired"


def test_a_dangling_lock_link_creates_no_file(tmp_path):
    out = tmp_path / "corpus"
    out.mkdir()
    target = tmp_path / "elsewhere" / "planted.txt"
    target.parent.mkdir()
    (out / LOCK_NAME).symlink_to(target)
    with pytest.raises(FolderLockedError, match="symbolic link"), lock_folder(out):
        pass
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_a_hard_linked_lock_file_is_refused(tmp_path):
    victim = _victim(tmp_path)
    out = tmp_path / "corpus"
    out.mkdir()
    os.link(victim, out / LOCK_NAME)
    with pytest.raises(FolderLockedError, match="has 1 other hard link"), lock_folder(out):
        pass
    assert victim.read_text() == VICTIM_TEXT


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_a_lock_file_that_is_not_a_file_is_refused(tmp_path):
    fifo_dir = tmp_path / "fifo"
    fifo_dir.mkdir()
    os.mkfifo(fifo_dir / LOCK_NAME)
    outcome = []

    def take():
        try:
            with lock_folder(fifo_dir):
                outcome.append("taken")
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    thread.join(20)
    assert outcome, "lock_folder blocked on a FIFO"
    assert outcome[0] != "taken", "a FIFO was taken as the lock file"
    with pytest.raises(FolderLockedError, match="is not a regular file"):
        raise outcome[0]
    dir_dir = tmp_path / "dir"
    (dir_dir / LOCK_NAME).mkdir(parents=True)
    with pytest.raises(OSError), lock_folder(dir_dir):
        pass


def test_the_holder_note_is_read_through_the_checked_file(tmp_path):
    # Another holder (here a second open file description in this process): its note is named.
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text("features, pid 12345\n")
    fd = os.open(out / LOCK_NAME, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(FolderLockedError, match=r"in use by another run \(features, pid "
                                                    r"12345\)"):
            with lock_folder(out):
                pass
    finally:
        os.close(fd)
    assert (out / LOCK_NAME).read_text() == "features, pid 12345\n"  # not truncated


def test_the_lock_is_filelocks_and_refuses_another_filelock_user_at_once(tmp_path, monkeypatch):
    """Issue 17: the folder lock is filelock's (portable beyond POSIX), so a program that takes
    ``filelock.FileLock`` on the same file excludes a run, and the other way round."""
    import subprocess
    import sys
    import time

    import filelock

    taken = []
    real = filelock.FileLock.acquire
    monkeypatch.setattr(filelock.FileLock, "acquire",
                        lambda self, *a, **k: taken.append(self.lock_file) or real(self, *a, **k))
    out = tmp_path / "out"
    with lock_folder(out, what="features"):
        assert taken == [str(out / LOCK_NAME)]
        code = ("import sys, filelock\n"
                "try:\n    filelock.FileLock(sys.argv[1], timeout=0).acquire()\n"
                "except filelock.Timeout:\n    print('refused')\n")
        other = subprocess.run([sys.executable, "-c", code, str(out / LOCK_NAME)],
                               capture_output=True, text=True, timeout=60)
        assert other.stdout.strip() == "refused", other.stderr
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, filelock\n"
         "with filelock.FileLock(sys.argv[1]):\n    print('locked', flush=True)\n"
         "    time.sleep(60)\n", str(out / LOCK_NAME)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        with pytest.raises(FolderLockedError, match="in use by another run"), lock_folder(out):
            pass
        assert time.monotonic() - t0 < 2.0  # refused at once, no waiting
    finally:
        holder.kill()
        holder.wait(10)
    with lock_folder(out, what="prepare"):  # released by the system with the killed holder
        assert (out / LOCK_NAME).read_text() == f"prepare, pid {os.getpid()}\n"


def test_the_cli_reports_a_symlinked_lock_file(tmp_path, capsys):
    from bag_of_songs.cli import main

    victim = _victim(tmp_path)
    corpus = tmp_path / "corpus"
    (corpus / "train").mkdir(parents=True)
    (corpus / "train" / "annotations.csv").write_text("audio_file,label\n")
    (corpus / LOCK_NAME).symlink_to(victim)
    assert main(["features", str(corpus)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "symbolic link" in err and "Traceback" not in err
    assert victim.read_text() == VICTIM_TEXT


# ---------------------------------------------------------------------------------------------
# The mode of atomic writes


def _no_umask(*args):
    raise AssertionError("os.umask was called: it changes the mask of every thread")


def test_atomic_writes_never_touch_the_umask(tmp_path, monkeypatch):
    mask = files._umask()
    monkeypatch.setattr(os, "umask", _no_umask)
    write_bytes_atomic(b"data", tmp_path / "a.bin")
    assert (tmp_path / "a.bin").read_bytes() == b"data"
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o666 & ~mask
    with lock_folder(tmp_path / "locked"):
        pass
    assert stat.S_IMODE((tmp_path / "locked" / LOCK_NAME).stat().st_mode) == 0o666 & ~mask


def test_the_mode_follows_the_current_umask(tmp_path, monkeypatch):
    old = os.umask(0o027)
    try:
        write_bytes_atomic(b"x", tmp_path / "b.bin")
    finally:
        os.umask(old)
    expected = 0o640 if files._HAVE_PROC_UMASK else 0o666 & ~files._UMASK_AT_IMPORT
    assert stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == expected
    # Without /proc: the mask read once at import.
    monkeypatch.setattr(files, "_HAVE_PROC_UMASK", False)
    monkeypatch.setattr(files, "_UMASK_AT_IMPORT", 0o077)
    monkeypatch.setattr(os, "umask", _no_umask)
    write_bytes_atomic(b"y", tmp_path / "c.bin")
    assert stat.S_IMODE((tmp_path / "c.bin").stat().st_mode) == 0o600


def _proc_umask() -> int:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        pytest.skip("needs /proc/self/status to watch the umask")
    return int(next(line for line in text.splitlines() if line.startswith("Umask:")).split()[1],
               8)


def test_concurrent_atomic_writes_keep_the_umask(tmp_path):
    # Before: each write set the umask to 0 and back, so a file another thread created in
    # between came out world-writable.
    mask = _proc_umask()
    errors = []

    def writer(i):
        try:
            for j in range(50):
                write_bytes_atomic(b"z", tmp_path / f"w{i}-{j}.bin")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    seen = set()
    while any(t.is_alive() for t in threads):
        seen.add(_proc_umask())
    for t in threads:
        t.join()
    assert not errors and seen <= {mask}
    modes = {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.glob("w*.bin")}
    assert modes == {0o666 & ~mask}
