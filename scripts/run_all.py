"""Start the web server, the Celery workers and Celery beat together; Ctrl-C stops them all.

The embedded defaults need no other server: SQLite (WAL) and a filesystem Celery broker.
Two workers mirror production: `gpu` (model jobs; one at a time, a fresh process per job)
and `default` (uploads, imports and exports, and light work).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))  # run as a script: its own folder, not the repository, is on the path

from labelserver.env import data_dir  # noqa: E402


def commands(host: str, port: str) -> dict[str, list[str]]:
    celery = [str(BIN / "celery"), "-A", "labelserver"]
    return {
        # gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl),
        # which a second server (another checkout, another data folder) would take over and delete.
        "web": [str(BIN / "gunicorn"), "labelserver.wsgi", "--bind", f"{host}:{port}", "--workers", "2",
                "--threads", "4", "--access-logfile", "-", "--control-socket", str(data_dir() / "gunicorn.ctl")],
        "worker-gpu": celery + ["worker", "-Q", "gpu", "--concurrency", "1", "--max-tasks-per-child", "1",
                                "--hostname", "gpu@%h", "--loglevel", "INFO"],
        "worker-default": celery + ["worker", "-Q", "default", "--concurrency", "2", "--hostname", "default@%h",
                                    "--loglevel", "INFO"],
        "beat": celery + ["beat", "--loglevel", "INFO"],
    }


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    procs: dict[str, subprocess.Popen] = {}
    for name, cmd in commands(host, port).items():
        # Each child in its own process group, so Ctrl-C reaches it once, through us.
        procs[name] = subprocess.Popen(cmd, cwd=REPO, start_new_session=True)
    print(f"\nlabelserver is running at http://{host}:{port}/  (Ctrl-C stops everything)\n", flush=True)

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"{name} exited with code {proc.returncode}; stopping the others", file=sys.stderr)
                stopping, exit_code = True, 1
                break
        time.sleep(0.5)
    return shutdown(procs) or exit_code


def shutdown(procs: dict[str, subprocess.Popen], grace_seconds: float = 10) -> int:
    # Workers get a cold shutdown (SIGQUIT): Ctrl-C should not wait for a training to finish.
    # The job they leave `running` is failed by the worker when it next starts.
    # The signal goes to each main process only, which stops its own children: sent to the whole
    # group, it also reached the Celery pool's children, and a worker then often never exited.
    for name, proc in procs.items():
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGQUIT if name.startswith("worker") else signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    for name, proc in procs.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in {grace_seconds:.0f} s; killing it", file=sys.stderr)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    print("labelserver stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
