"""``python -m bag_of_songs``: the same command line as ``bag-of-songs``."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
