"""scripts/run_all.py, what `make run` starts: its commands and how Ctrl-C stops them."""

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("run_all", REPO / "scripts" / "run_all.py")
run_all = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_all)


def test_the_web_servers_control_socket_is_in_the_data_folder(settings):
    web = run_all.commands("127.0.0.1", "8000")["web"]
    assert Path(web[web.index("--control-socket") + 1]) == settings.DATA_DIR / "gunicorn.ctl"


def start(on_sigquit: str) -> subprocess.Popen:
    code = f"import signal, sys, time; signal.signal(signal.SIGQUIT, {on_sigquit}); print(flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE)
    proc.stdout.readline()  # its handler is set
    return proc


def test_shutdown_stops_a_worker_on_sigquit_and_kills_one_that_does_not_stop():
    stops, stuck = start("lambda *_: sys.exit(0)"), start("signal.SIG_IGN")
    began = time.monotonic()
    run_all.shutdown({"worker-a": stops, "worker-b": stuck}, grace_seconds=2)
    assert time.monotonic() - began < 10
    assert (stops.returncode, stuck.returncode) == (0, -9)
