"""Settings for the test suite: the production settings, with development defaults filled in.

Each test run gets its own data folder (test database, broker, static files), so test runs
side by side (pytest-xdist, or two people on one machine) never share a database file.
"""

import os
from pathlib import Path

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault(
    "LABELSERVER_DATA_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test" / f"run-{os.getpid()}")
)

from labelserver.settings import *  # noqa: E402,F403

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (whitenoise warns about a missing folder)
