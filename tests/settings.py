"""Settings for the test suite: the production settings, with development defaults filled in.

Each test process gets its own data folder (test database, broker, static files), so test runs
side by side (pytest-xdist workers, or two people on one machine) never share a database file.
"""

import os
from pathlib import Path

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault(
    "LABELSERVER_DATA_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test" / f"run-{os.getpid()}")
)
# A pytest-xdist worker inherits the controller's environment, its data folder included: each
# worker takes its own beside it (run-<pid>-gw0, ...). Processes a worker starts inherit that one.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _XDIST_WORKER and not os.environ["LABELSERVER_DATA_DIR"].endswith(f"-{_XDIST_WORKER}"):
    os.environ["LABELSERVER_DATA_DIR"] += f"-{_XDIST_WORKER}"

from labelserver.settings import *  # noqa: E402,F403

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (whitenoise warns about a missing folder)
