"""load_librosa: librosa's numba caches are filled by one process at a time (numba issue 10128).

Each check runs in a fresh interpreter (the first call of a process is the one that locks) with
its own temporary folder, so the lock file it uses is the test's alone.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from filelock import FileLock

PACKAGE = ROOT / "bag_of_songs"

_SCRIPT = """
import logging, os, stat, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(name)s %(message)s")
import bag_of_songs._librosa as L
L.LOCK_TIMEOUT = float(sys.argv[1])
librosa = L.load_librosa()
assert L.load_librosa() is librosa and sys.modules["librosa.util.utils"] is not None
path = L.numba_cache_lock_path()
print("lock", path)
if os.path.lexists(path) and not os.path.islink(path):
    print("mode", oct(stat.S_IMODE(os.lstat(path).st_mode)))
print("midi", float(librosa.hz_to_midi(440.0)))
"""


def _run(tmp_path, timeout="600"):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", _SCRIPT, timeout], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _lock_path(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", "from bag_of_songs._librosa import "
                          "numba_cache_lock_path as p; print(p())"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return out.stdout.strip()


def test_first_import_takes_the_lock_and_leaves_a_private_lock_file(tmp_path):
    out = _run(tmp_path)
    assert "without the numba cache lock" not in out
    assert f"lock {tmp_path}" in out and "mode 0o600" in out
    assert "midi 69.0" in out


def test_a_held_lock_is_waited_for(tmp_path):
    """Another process filling the caches holds the lock: the import waits for it (here, with
    the wait cut to a second, it gives up and imports without the lock, saying so)."""
    path = _lock_path(tmp_path)
    with FileLock(path):
        out = _run(tmp_path, timeout="1")
    assert "without the numba cache lock" in out and "midi 69.0" in out


def test_a_link_planted_where_the_lock_goes_is_not_followed(tmp_path):
    path = _lock_path(tmp_path)
    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    os.symlink(target, path)
    out = _run(tmp_path)
    assert "without the numba cache lock" in out and "midi 69.0" in out
    assert target.read_text() == "keep me" and os.path.islink(path)


def test_the_package_imports_librosa_only_through_load_librosa():
    """Every other module goes through load_librosa (a plot module then imports the
    librosa.display submodule, its caches already filled)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "_librosa.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {name}" for name in names
                          if name.split(".")[0] == "librosa" and name != "librosa.display"]
    assert not offenders


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="making a file owned by another user needs root")
def test_another_users_lock_file_is_not_used(tmp_path):
    """Another user could hold a lock file they made for as long as they like: it is not waited
    for (the whole run takes far less than the ten-minute wait)."""
    path = _lock_path(tmp_path)
    with open(path, "w"):
        pass
    os.chmod(path, 0o666)
    os.chown(path, 12345, 12345)
    with FileLock(path):  # held, as the other user would hold it
        out = _run(tmp_path)
    assert "without the numba cache lock" in out and "not a regular file of this user" in out
