"""Model weights files: fetching Cellpose's named pretrained weights safely, and validating files.

Cellpose 3.1's own downloader (`cellpose.utils.download_url_to_file`) opens the URL with no
timeout and first sets `ssl._create_default_https_context = ssl._create_unverified_context`,
which turns off certificate checks for every later HTTPS call in the process. A server must not
run it. So named weights are fetched here (verified TLS, a timeout on every socket operation,
written to a temporary file, checked, then renamed into the cache) and the backend only ever
hands Cellpose a local file path.

Offline, `pretrained_path` fails within about the timeout with a message that says what to do.
Validation uses torch (never cellpose: only backends/cellpose.py imports it) and loads with
`weights_only=True`, so an uploaded file cannot run code.
"""

from __future__ import annotations

import hashlib
import os
import re
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from active_learning.backends.base import BackendError

DEFAULT_BASE_URL = "https://www.cellpose.org/models"

# Names accepted in `start_from: "pretrained:<name>"` -> the file name Cellpose 3.1 uses for them,
# both on www.cellpose.org/models/<file> and in its cache folder (cellpose.models.model_path).
# Only the default CPnet architecture is listed: the transformer models need packages not installed.
PRETRAINED_FILES: dict[str, str] = {
    "cyto3": "cyto3",
    "nuclei": "nucleitorch_0",
    "cyto2": "cyto2torch_0",
    "cyto": "cytotorch_0",
    "cyto2_cp3": "cyto2_cp3",
    "tissuenet_cp3": "tissuenet_cp3",
    "livecell_cp3": "livecell_cp3",
    "yeast_PhC_cp3": "yeast_PhC_cp3",
    "yeast_BF_cp3": "yeast_BF_cp3",
    "bact_phase_cp3": "bact_phase_cp3",
    "bact_fluor_cp3": "bact_fluor_cp3",
    "deepbacs_cp3": "deepbacs_cp3",
    "neurips_grayscale_cyto2": "neurips_grayscale_cyto2",
}

MAX_WEIGHTS_BYTES = 512 * 1024 * 1024  # a Cellpose 3 CPnet file is ~26 MB
_CHUNK = 1024 * 1024

# The layout of Cellpose 3's default network, CPnet([2, 32, 64, 128, 256], nout=3, sz=3): the
# SHA-256 of its sorted "name:shape" float tensors, leaving out diam_mean/diam_labels (older
# files may lack diam_labels). Cellpose loads with strict=False, so a file with missing or
# renamed tensors would load "successfully" with random weights; comparing layouts prevents that.
# tests/test_backend_cellpose.py checks this against a freshly built CPnet.
CPNET_TENSORS = 270
CPNET_VALUES = 6_610_387
CPNET_LAYOUT_SHA256 = "bbe051c91354224c8e6a2988a1404813df0723068dca7f19182fe0ab35bc8778"
_INPUT_NORM_KEY = "downsample.down.res_down_0.conv.conv_0.0.weight"  # one value per input channel
_DIAMETER_KEYS = ("diam_mean", "diam_labels")


class WeightsError(BackendError):
    code = "bad_weights"


class PretrainedUnavailable(WeightsError):
    code = "pretrained_unavailable"
    http_status = 503


@dataclass(frozen=True)
class WeightsInfo:
    path: Path
    sha256: str
    size_bytes: int
    n_values: int
    diam_mean: float | None
    diam_labels: float | None


# --- validation --------------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _load_state(path: Path) -> Mapping[str, Any]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise WeightsError(f"{path.name} is not a readable PyTorch weights file ({type(exc).__name__}: {exc})")
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path.name} holds a {type(state).__name__}, not a dictionary of network tensors")
    return state


def layout_sha256(state: Mapping[str, Any]) -> str:
    """Fingerprint of a state dict's float tensors: names and shapes, not values."""
    items = sorted(
        (name, tuple(t.shape)) for name, t in state.items() if t.is_floating_point() and name not in _DIAMETER_KEYS
    )
    text = "\n".join(f"{name}:{'x'.join(map(str, shape))}" for name, shape in items)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_layout(name: str, state: Mapping[str, Any]) -> None:
    if "W2" in state or any(k.startswith("encoder.") for k in state):
        raise WeightsError(f"{name} holds Cellpose 4 (Cellpose-SAM) weights; this server runs Cellpose 3 networks")
    norm = state.get(_INPUT_NORM_KEY)
    if norm is not None and tuple(norm.shape) != (2,):
        raise WeightsError(f"{name} is a network for {norm.shape[0]} input channels; Cellpose 3 networks here take 2")
    if layout_sha256(state) != CPNET_LAYOUT_SHA256:
        floats = [t for k, t in state.items() if t.is_floating_point() and k not in _DIAMETER_KEYS]
        raise WeightsError(
            f"{name} is not a Cellpose 3 CPnet weights file: it has {len(floats)} tensors with "
            f"{sum(t.numel() for t in floats):,} values, the network has {CPNET_TENSORS} with {CPNET_VALUES:,}"
        )


def _check_values(name: str, state: Mapping[str, Any]) -> None:
    import torch

    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise WeightsError(f"{name} is damaged: tensor {key} holds NaN or infinite values")
    for key in _DIAMETER_KEYS:
        if key in state and not float(state[key].reshape(-1)[0]) > 0:
            raise WeightsError(f"{name} is damaged: {key} must be a positive cell diameter")


def _diameter(state: Mapping[str, Any], key: str) -> float | None:
    return float(state[key].reshape(-1)[0]) if key in state else None


def validate_weights_file(path: str | os.PathLike[str]) -> WeightsInfo:
    """Check that `path` is a usable Cellpose 3 network; raise WeightsError saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    size = path.stat().st_size
    if size == 0 or size > MAX_WEIGHTS_BYTES:
        raise WeightsError(f"{path.name} is {size:,} bytes; a weights file must hold 1 to {MAX_WEIGHTS_BYTES:,}")
    state = _load_state(path)
    _check_layout(path.name, state)
    _check_values(path.name, state)
    n_values = sum(t.numel() for t in state.values())
    return WeightsInfo(
        path=path,
        sha256=sha256_of(path),
        size_bytes=size,
        n_values=n_values,
        diam_mean=_diameter(state, "diam_mean"),
        diam_labels=_diameter(state, "diam_labels"),
    )


# --- named pretrained weights -------------------------------------------------------------------------


def labelserver_setting(key: str, default: Any) -> Any:
    """settings.LABELSERVER[key], or `default` outside a configured Django project (scripts, benches)."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        return settings.LABELSERVER.get(key, default)
    except (ImproperlyConfigured, AttributeError):
        return default


def models_dir() -> Path:
    """The cache of named pretrained weights (settings.LABELSERVER["CELLPOSE_MODELS_DIR"])."""
    return Path(labelserver_setting("CELLPOSE_MODELS_DIR", Path.home() / ".cellpose" / "models"))


def _failure_reason(exc: Exception, timeout: float) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s"
    return f"{type(reason).__name__}: {reason}" if isinstance(reason, Exception) else str(reason)


def _unavailable(name: str, url: str, target: Path, reason: str) -> PretrainedUnavailable:
    return PretrainedUnavailable(
        f"could not download the pretrained Cellpose model {name!r} from {url} ({reason}); "
        "this server may have no internet access. Either upload a weights file for the project and start "
        "from it, or set start_from to 'scratch' to train a new network; an administrator can also copy "
        f"the file to {target}."
    )


def _download(url: str, target: Path, timeout: float) -> None:
    """Stream `url` into a temporary file next to `target`, validate it, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    context = ssl.create_default_context()  # verified certificates, for this request only
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            _copy_limited(response, out)
        validate_weights_file(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _copy_limited(response: Any, out: Any) -> None:
    total = 0
    while chunk := response.read(_CHUNK):
        total += len(chunk)
        if total > MAX_WEIGHTS_BYTES:
            raise WeightsError(f"download is larger than {MAX_WEIGHTS_BYTES:,} bytes; refusing it")
        out.write(chunk)
    out.flush()
    os.fsync(out.fileno())


def pretrained_path(
    name: str, *, cache_dir: Path | None = None, base_url: str | None = None, timeout: float | None = None
) -> Path:
    """The local file of Cellpose's pretrained model `name`, downloading it into the cache if needed."""
    if name not in PRETRAINED_FILES:
        raise WeightsError(f"unknown pretrained Cellpose model {name!r} (known: {', '.join(PRETRAINED_FILES)})")
    target = (cache_dir or models_dir()) / PRETRAINED_FILES[name]
    if target.is_file():
        return target
    base_url = base_url or labelserver_setting("CELLPOSE_MODELS_URL", DEFAULT_BASE_URL)
    timeout = timeout or float(labelserver_setting("PRETRAINED_DOWNLOAD_TIMEOUT_SECONDS", 20))
    url = f"{base_url.rstrip('/')}/{PRETRAINED_FILES[name]}"
    try:
        _download(url, target, timeout)
    except WeightsError as exc:
        if isinstance(exc, PretrainedUnavailable):
            raise
        raise WeightsError(f"the pretrained Cellpose model {name!r} downloaded from {url} is unusable: {exc}")
    except (OSError, ValueError) as exc:  # URLError and timeouts are OSErrors; ValueError: a bad URL
        raise _unavailable(name, url, target, _failure_reason(exc, timeout))
    return target


# --- a project's own weights ----------------------------------------------------------------------------

# "weights:<sha256>" names a weights file uploaded to the project by its content hash: never a
# path, so a project cannot probe the server's files or start from another project's weights.
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
UPLOAD_HINT = (
    "upload the file to this project (POST /api/projects/<id>/model-versions/) and use "
    "'weights:<sha256>' with the weights_sha256 it answers"
)


def project_weights_dir(media_root: Path, project_id: int) -> Path:
    """Where a project's weights files live: <media root>/models/<project id>/<sha256>.pt."""
    return Path(media_root) / "models" / str(int(project_id))


def project_weights_file(weights_dir: Path, sha256: str) -> Path:
    """The file `sha256` in a project's weights folder; WeightsError when it is not a hash or not there."""
    if not SHA256_HEX.fullmatch(sha256):
        raise WeightsError(f"{sha256!r} is not the SHA-256 of a weights file; {UPLOAD_HINT}")
    path = weights_dir / f"{sha256}.pt"
    if not path.is_file():
        raise WeightsError(f"no weights file with SHA-256 {sha256} was uploaded to this project; {UPLOAD_HINT}")
    return path


def start_weights(start_from: str, *, weights_dir: Path | None = None) -> Path | None:
    """The weights file a project's first model starts from: None (scratch), a pretrained file, or
    one of the project's uploads ("weights:<sha256>", looked up in `weights_dir` alone: the
    project's weights folder, `project_weights_dir`)."""
    if start_from == "scratch":
        return None
    if start_from.startswith("pretrained:"):
        return pretrained_path(start_from.removeprefix("pretrained:"))
    if start_from.startswith("weights:"):
        if weights_dir is None:
            raise WeightsError(f"start_from {start_from!r} names a project's weights, but no project was given")
        path = project_weights_file(weights_dir, start_from.removeprefix("weights:"))
        validate_weights_file(path)
        return path
    raise WeightsError(f"start_from {start_from!r} is not 'scratch', 'pretrained:<name>' or 'weights:<sha256>'")
