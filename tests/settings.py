"""Settings for the test suite: the production settings, with development defaults filled in."""

import os
from pathlib import Path

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("LABELSERVER_DATA_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))

from labelserver.settings import *  # noqa: E402,F403

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (whitenoise warns about a missing folder)
