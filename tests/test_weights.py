"""Weights files: validation of uploads, and fetching named pretrained weights safely (or failing fast)."""

from __future__ import annotations

import http.server
import pickle
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from active_learning.backends import validate_weights, weights
from active_learning.backends.weights import (
    PretrainedUnavailable,
    WeightsError,
    pretrained_path,
    start_weights,
    validate_weights_file,
)

# --- local servers standing in for www.cellpose.org ---------------------------------------------------


@contextmanager
def serving(files: dict[str, bytes], *, tls_dir: Path | None = None) -> Iterator[str]:
    """An HTTP(S) server on localhost that serves `files`; yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            body = files.get(self.path.rsplit("/", 1)[-1])
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if tls_dir is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls_dir / "cert.pem", tls_dir / "key.pem")
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}/models"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_server() -> Iterator[str]:
    """Accepts connections (the kernel completes the handshake) but never answers: a stalled network."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/models"
    finally:
        sock.close()


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connections are refused at once
    return f"http://127.0.0.1:{port}/models"


def self_signed_certificate(folder: Path) -> Path:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return folder


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- validation: fast cases (no valid network needed) ---------------------------------------------------


def test_it_rejects_a_missing_or_empty_file(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        validate_weights_file(tmp_path / "nothing.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(WeightsError, match="0 bytes"):
        validate_weights_file(tmp_path / "empty.pth")


def test_it_rejects_a_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.pth"
    path.write_bytes(np.random.default_rng(0).bytes(4096))

    with pytest.raises(WeightsError, match="not a readable PyTorch weights file"):
        validate_weights_file(path)


def test_it_rejects_a_file_that_is_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], path)

    with pytest.raises(WeightsError, match="holds a list, not a dictionary"):
        validate_weights_file(path)


def test_it_rejects_another_network(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(torch.nn.Linear(4, 2).state_dict(), path)

    with pytest.raises(WeightsError, match="not a Cellpose 3 CPnet weights file: it has 2 tensors with 10 values"):
        validate_weights_file(path)


def test_it_names_cellpose_4_weights(tmp_path):
    path = tmp_path / "cpsam"
    torch.save({"W2": torch.zeros(2), "encoder.patch_embed.proj.weight": torch.zeros(2)}, path)

    with pytest.raises(WeightsError, match="Cellpose 4"):
        validate_weights_file(path)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "the upload ran code"))


def test_it_never_runs_code_from_an_uploaded_file(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"x": _Payload(marker)}, protocol=2))

    with pytest.raises(WeightsError):
        validate_weights_file(path)
    assert not marker.exists()


def test_the_upload_check_is_asked_by_backend_name(tmp_path):
    path = tmp_path / "corrupt.pth"
    path.write_bytes(b"not weights")

    with pytest.raises(ValueError, match="not a readable"):  # WeightsError is a ValueError too
        validate_weights("cellpose", path)
    with pytest.raises(ValueError, match="unknown model backend 'cpsam'"):
        validate_weights("cpsam", path)


# --- named pretrained weights -------------------------------------------------------------------------------


def test_it_starts_from_scratch_without_a_file():
    assert start_weights("scratch") is None


def test_it_refuses_unknown_pretrained_names(tmp_path):
    with pytest.raises(WeightsError, match="unknown pretrained Cellpose model 'cyto9'"):
        pretrained_path("cyto9", cache_dir=tmp_path)


# Fixed ids: the closed port differs between processes, and pytest-xdist needs every worker to
# collect the same test names.
@pytest.mark.parametrize("url", [closed_port_url(), "https://cellpose-weights.invalid/models"],
                         ids=["refused", "unresolvable"])
def test_offline_a_pretrained_name_fails_fast_with_advice(tmp_path, url):
    cache = tmp_path / "cache"
    started = time.monotonic()

    with pytest.raises(PretrainedUnavailable) as caught:
        pretrained_path("nuclei", cache_dir=cache, base_url=url, timeout=5)

    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert "'nuclei'" in message and f"{url}/nucleitorch_0" in message
    assert "upload a weights file" in message and "'scratch'" in message
    assert leftovers(cache) == []


def test_a_stalled_download_times_out_instead_of_hanging(tmp_path):
    started = time.monotonic()
    with silent_server() as url, pytest.raises(PretrainedUnavailable, match="within 1 s"):
        pretrained_path("cyto3", cache_dir=tmp_path / "cache", base_url=url, timeout=1)

    assert time.monotonic() - started < 4
    assert leftovers(tmp_path / "cache") == []


def test_the_timeout_comes_from_settings(tmp_path, settings):
    settings.LABELSERVER = {**settings.LABELSERVER, "PRETRAINED_DOWNLOAD_TIMEOUT_SECONDS": 1}
    with silent_server() as url, pytest.raises(PretrainedUnavailable, match="within 1 s"):
        pretrained_path("cyto3", cache_dir=tmp_path / "cache", base_url=url)


def test_it_verifies_https_certificates_and_leaves_the_process_default_alone(tmp_path):
    default_context = ssl._create_default_https_context
    tls = self_signed_certificate(tmp_path)

    with serving({"cyto3": b"whatever"}, tls_dir=tls) as url:
        with pytest.raises(PretrainedUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            pretrained_path("cyto3", cache_dir=tmp_path / "cache", base_url=url, timeout=5)

    assert ssl._create_default_https_context is default_context
    assert leftovers(tmp_path / "cache") == []


def test_a_corrupt_download_never_reaches_the_cache(tmp_path):
    with serving({"cyto3": b"<html>maintenance</html>"}) as url:
        with pytest.raises(WeightsError, match="downloaded from .* is unusable: .*not a readable"):
            pretrained_path("cyto3", cache_dir=tmp_path / "cache", base_url=url, timeout=5)

    assert leftovers(tmp_path / "cache") == []


def test_a_missing_file_on_the_server_is_reported(tmp_path):
    with serving({}) as url, pytest.raises(PretrainedUnavailable, match="HTTP 404 Not Found"):
        pretrained_path("cyto3", cache_dir=tmp_path / "cache", base_url=url, timeout=5)


def test_the_cache_folder_comes_from_settings(tmp_path, settings):
    settings.LABELSERVER = {**settings.LABELSERVER, "CELLPOSE_MODELS_DIR": tmp_path}
    (tmp_path / "cyto3").write_bytes(b"cached")

    assert weights.models_dir() == tmp_path
    assert pretrained_path("cyto3") == tmp_path / "cyto3"  # a cached file is used without any network


# --- with a real (random) Cellpose network ------------------------------------------------------------------


@pytest.mark.slow
def test_it_accepts_a_cellpose_3_network(cpnet_file):
    info = validate_weights_file(cpnet_file)

    assert info.diam_mean == 30.0 and info.diam_labels == 30.0
    assert info.n_values > weights.CPNET_VALUES  # plus BatchNorm counters and the two diameters
    assert info.sha256 == weights.sha256_of(cpnet_file) and len(info.sha256) == 64


@pytest.mark.slow
def test_the_layout_fingerprint_matches_cellpose(cpnet_file):
    state = torch.load(cpnet_file, weights_only=True)

    assert weights.layout_sha256(state) == weights.CPNET_LAYOUT_SHA256


@pytest.mark.slow
def test_it_rejects_damaged_values_and_truncated_files(cpnet_file, tmp_path):
    state = torch.load(cpnet_file, weights_only=True)
    state["output.2.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, tmp_path / "nan")
    with pytest.raises(WeightsError, match="output.2.weight holds NaN"):
        validate_weights_file(tmp_path / "nan")

    state = torch.load(cpnet_file, weights_only=True)
    del state["upsample.up.res_up_3.proj.1.bias"]
    torch.save(state, tmp_path / "partial")
    with pytest.raises(WeightsError, match="not a Cellpose 3 CPnet"):
        validate_weights_file(tmp_path / "partial")

    (tmp_path / "truncated").write_bytes(cpnet_file.read_bytes()[:100_000])
    with pytest.raises(WeightsError, match="not a readable PyTorch weights file"):
        validate_weights_file(tmp_path / "truncated")


@pytest.mark.slow
def test_it_downloads_named_weights_once_into_the_cache(cpnet_file, tmp_path):
    cache = tmp_path / "cache"
    with serving({"nucleitorch_0": cpnet_file.read_bytes()}) as url:
        path = pretrained_path("nuclei", cache_dir=cache, base_url=url, timeout=5)

    assert path == cache / "nucleitorch_0"  # the name Cellpose itself uses
    assert path.read_bytes() == cpnet_file.read_bytes()
    assert leftovers(cache) == ["nucleitorch_0"]  # no temporary file left behind
    # The server is gone: a second call must not need it.
    assert pretrained_path("nuclei", cache_dir=cache, base_url=closed_port_url(), timeout=1) == path
