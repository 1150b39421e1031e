"""The long API fuzzing run (outside CI): a throwaway server with seeded data, schemathesis' CLI
against it as a project admin and as a labeller.

    .venv/bin/python scripts/fuzz_api.py                      # 2 roles x 49 operations x 110 examples
    .venv/bin/python scripts/fuzz_api.py --max-examples 20    # a quicker look

What it does: a fresh data folder in /tmp (SQLite, DEBUG=0, a random SECRET_KEY), `migrate`, the
seed of tests/fuzz_seed.py, gunicorn on 127.0.0.1, then for each role `st run` with the checks
the CI test runs (tests/test_api_fuzz.py): not a server error, status code, content type and
response body conformance. Half the generated path ids are the seeded objects' (a schemathesis
dictionary), so the cases reach real objects rather than only 404s. No Celery worker runs:
jobs the fuzzing starts stay queued, nothing trains. The server and the folder go at the end
(--keep keeps the folder: the server log, schemathesis' reports).

It prints the cases run per role and their total, and exits non-zero when schemathesis found
anything. docs/security.md records the last figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
SEED_PROBABILITY = 0.5


def main() -> int:
    args = _arguments()
    if args.seed_only:
        return _seed_and_print()
    folder = Path(tempfile.mkdtemp(prefix="labelserver-fuzz-"))
    env = _environment(folder)
    server = None
    try:
        _manage(env, "migrate", "--noinput", "--verbosity", "0")
        seeded = json.loads(subprocess.run([sys.executable, __file__, "--seed-only"], env=env, check=True,
                                           capture_output=True, text=True, cwd=REPO).stdout.splitlines()[-1])
        server = _start_server(env, folder, args.port)
        base = f"http://127.0.0.1:{args.port}"
        _wait_for(f"{base}/api/schema/", seeded["tokens"]["admin"])
        config = _write_config(folder, seeded["ids"])
        results = {role: _fuzz(base, config, folder, role, token, args)
                   for role, token in seeded["tokens"].items()}
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return _summarise(results, folder if args.keep else None)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=110, help="cases per operation and phase")
    parser.add_argument("--seed", type=int, default=24, help="schemathesis' random seed")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--keep", action="store_true", help="keep the data folder, logs and reports")
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def _environment(folder: Path) -> dict[str, str]:
    """A production-like server (DEBUG off, so Django's own error pages are the JSON ones) on
    plain HTTP, in its own data folder."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "labelserver.settings",
        "LABELSERVER_DATA_DIR": str(folder),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "BEHIND_TLS_PROXY": "0",
        "PYTHONPATH": str(REPO),
    }


def _manage(env: dict[str, str], *command: str) -> None:
    subprocess.run([sys.executable, "manage.py", *command], env=env, check=True, cwd=REPO)


def _seed_and_print() -> int:
    """In a child process with the throwaway environment: seed, print ids and tokens as JSON."""
    import django

    django.setup()
    from tests.fuzz_seed import seed_fuzz_data

    seeded = seed_fuzz_data()
    print(json.dumps({"ids": seeded.ids, "tokens": seeded.tokens}))
    return 0


def _start_server(env: dict[str, str], folder: Path, port: int) -> subprocess.Popen[bytes]:
    log = open(folder / "server.log", "wb")  # noqa: SIM115  (closed with the process)
    command = [str(BIN / "gunicorn"), "labelserver.wsgi:application", "--bind", f"127.0.0.1:{port}",
               "--workers", "2", "--timeout", "120", "--control-socket", str(folder / "gunicorn.ctl")]
    return subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)


def _wait_for(url: str, token: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    while True:
        try:
            with urllib.request.urlopen(request, timeout=10):
                return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _write_config(folder: Path, ids: dict[str, int]) -> Path:
    """schemathesis.toml: each path id is the seeded object's half of the time."""
    lines = []
    for name, value in ids.items():
        lines += [f"[dictionaries.{name}]", f"values = [{value}]", ""]
    lines.append("[parameters]")
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = {SEED_PROBABILITY} }}' for name in ids]
    path = folder / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _fuzz(base: str, config: Path, folder: Path, role: str, token: str, args: argparse.Namespace) -> dict:
    """One `st run` as this role; its exit status and the cases it ran (from its summary)."""
    command = [str(BIN / "st"), "--config-file", str(config), "run", f"{base}/api/schema/",
               "--header", f"Authorization: Token {token}", "--checks", CHECKS, "--seed", str(args.seed),
               "--max-examples", str(args.max_examples), "--generation-database", "none", "--workers", "1",
               "--report", "junit", "--report-dir", str(folder / f"report-{role}"), "--no-color"]
    print(f"$ {' '.join(command).replace(token, '<token>')}", flush=True)
    started = time.monotonic()
    run = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    (folder / f"st-{role}.log").write_text(run.stdout + run.stderr)
    print(run.stdout[-4000:], flush=True)
    return {"exit": run.returncode, "cases": _cases_in(run.stdout), "seconds": round(time.monotonic() - started)}


def _cases_in(output: str) -> int | None:
    """The number of generated cases in schemathesis' summary ("Test cases: ... N generated")."""
    match = re.search(r"(\d[\d,]*) generated", output)
    return int(match.group(1).replace(",", "")) if match else None


def _summarise(results: dict[str, dict], kept: Path | None) -> int:
    for role, result in results.items():
        print(f"{role}: {result['cases']} cases in {result['seconds']} s, st exit status {result['exit']}")
    total = sum(result["cases"] or 0 for result in results.values())
    print(f"total: {total} cases over {len(results)} roles" + (f"; logs and reports in {kept}" if kept else ""))
    return max(result["exit"] for result in results.values())


if __name__ == "__main__":
    sys.exit(main())
