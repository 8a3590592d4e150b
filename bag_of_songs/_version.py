"""The installed version of bag-of-songs, read from the package metadata (one home: pyproject)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bag-of-songs")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
