"""Settings refuse bad values at start-up with a message that names the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _check(env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")} | env
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env=full, capture_output=True, text=True, timeout=120
    )


def test_it_refuses_to_start_without_a_secret_key_in_production():
    result = _check({"DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("LEASE_SECONDS", "soon", "LEASE_SECONDS='soon' is not an integer"),
        ("LABELSERVER_DEVICE", "tpu", "LABELSERVER_DEVICE='tpu' must be one of"),
        ("DATABASE_URL", "nosuchdb://x", "is not a valid database URL"),
    ],
)
def test_it_names_the_bad_variable(name, value, message):
    result = _check({"DEBUG": "1", name: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_it_starts_with_good_production_values(tmp_path):
    result = _check({"DEBUG": "0", "SECRET_KEY": "x" * 50, "LABELSERVER_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
