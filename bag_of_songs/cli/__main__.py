"""``python -m bag_of_songs.cli``: the same command line as ``bag-of-songs``."""

from .entry import main

if __name__ == "__main__":
    raise SystemExit(main())
