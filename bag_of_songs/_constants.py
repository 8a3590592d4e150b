"""The facts every part of bag_of_songs shares, in one place (a leaf module: imports nothing).

The clip format of the study (mono, 22,050 Hz, 30 s), its frame grid (F = 2048, H = 512), the
label levels of CCMusic, the columns of a table that are not features, the files a prepared
folder holds and which of them are derived from the others. Modules re-export what they use
under the names they always had (``bag_of_songs.audio.SAMPLE_RATE`` is this ``SAMPLE_RATE``).

Examples
--------
>>> N_SAMPLES == int(SAMPLE_RATE * DURATION)
True
>>> 1 + N_SAMPLES // HOP_LENGTH  # frames per clip, centred as librosa centres them
1292
"""

from __future__ import annotations

# The clip format ------------------------------------------------------------------------------

#: Sampling rate of every prepared clip, in Hz.
SAMPLE_RATE = 22050
#: Length of every prepared clip, in seconds.
DURATION = 30.0
#: Length of every prepared clip, in samples (``SAMPLE_RATE * DURATION``).
N_SAMPLES = 661500
#: Frame size F of every frame-level feature, in samples.
FRAME_SIZE = 2048
#: Hop length H between frames, in samples.
HOP_LENGTH = 512

#: File endings read by the folder source (others in a genre folder are reported as skipped).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")

#: Plausible sampling rates, in Hz, of an audio file's header and of any setting a table or a
#: model asks for: outside 1 kHz .. 768 kHz a corrupt or crafted value would become a near-silent
#: clip, or ask for gigabytes of memory.
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000

# Labels and tables ----------------------------------------------------------------------------

#: CCMusic's label levels, coarse to fine: Classic / Non_classic, 9 genres, 16 genres.
LEVELS = ("fst_level_label", "sec_level_label", "thr_level_label")

#: Columns of an annotations or feature table that identify a row (never labels or features):
#: the prepared clip, what it was prepared from, that source's stamp, the segment index.
ID_COLUMNS = ("audio_file", "source", "source_stamp", "segment")

# The files of a prepared folder ---------------------------------------------------------------

#: Written by ``prepare`` at the top of a data folder: what each split was prepared from.
PREPARE_RECORD = "prepare.json"
#: Written by ``prepare`` in each split folder.
SPLIT_FILES = ("annotations.csv", "skipped.csv", "warnings.csv")
#: Derived from a split's annotations by ``features`` (removed when the annotations change), in
#: the order they are published (``features.json`` last).
DERIVED_FILES = ("features.csv", "features_skipped.csv", "features.json")
#: Folders derived from a split's clips (the CNN's spectrogram cache).
DERIVED_DIRS = ("cache",)
#: The lock file a run holds in a folder it writes into.
LOCK_NAME = ".bag-of-songs.lock"
