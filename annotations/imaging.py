"""Reading microscopy images: headers, pixels, crop windows, tiling and display rendering.

Formats: PNG (8/16-bit, grey, grey+alpha, RGB, RGBA, palette), JPEG, and TIFF (any integer or
float type, multi-channel, multi-page, OME-TIFF, ImageJ). The format is told from the file's
first bytes, never from its name. Pixels always come back as (H, W, C) in the stored dtype
(native byte order; 1-bit images as uint8).

TIFF rule (the first series of the file; for a pyramid, its full-resolution level):
* Y and X are the image plane. Every other axis - samples (S), channels (C), and pages that
  carry no meaning (I, Q: a plain multi-page TIFF) - becomes a channel, flattened in file order.
  A plain multi-page TIFF is therefore read as one multi-channel image.
* Z-stacks and time series (Z or T longer than 1) are refused: labelserver labels 2-D images,
  and silently picking one plane would hide data. Export a plane or a projection first.

* A file of several series (images of different sizes, or unrelated images) is refused naming
  the count, rather than silently reading the first; only the companion images of a whole-slide
  file (thumbnail, label, macro) are passed over.

Safety: the header is read first (size, channels, dtype) without decoding, and an image is
refused before any pixel is decoded when its width x height exceeds
settings.LABELSERVER["MAX_IMAGE_PIXELS"], its channels exceed MAX_IMAGE_CHANNELS, its samples
exceed four times MAX_IMAGE_PIXELS (the data of an RGBA image at the limit), or its decoded bytes
exceed eight times MAX_IMAGE_PIXELS (four 16-bit channels at the limit): a small compressed
TIFF of 1,800 float32 pages is not taken as an 1,800-channel image worth gigabytes. Pillow's own
decompression-bomb guard is set to the same limit as a backstop. Corrupt, truncated and
unsupported files raise ImageReadError naming the file.

Large images: uncompressed TIFFs are memory-mapped (by tifffile), so a crop reads only its own
window; compressed and tiled TIFFs are read through tifffile's zarr store a band of tiles at a
time, so a crop decodes only the tiles it needs and memory holds a band, not the image. PNG and
JPEG are decoded whole once; `read_crop_pixels` keeps the last few opened images in a small cache,
so reading many crops of one image in a row decodes it once.

Files come as a path or, for API uploads, as an open binary file (read into memory once).
`read_label_image` is the one reader of label images, for API uploads and ingestion alike.
"""

from __future__ import annotations

import io
import math
import os
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

import imagecodecs
import numpy as np
import tifffile
import zarr
from django.conf import settings
from PIL import Image as PILImage

from annotations.masks import MaskError, as_label_image
from labelserver import storage
from labelserver.errors import DomainError

if TYPE_CHECKING:
    from annotations.models import Crop, Image

# Percentiles that set the display contrast: robust to a few hot pixels and dead background.
DISPLAY_PERCENTILES = (0.5, 99.8)
# Percentiles are computed on a strided subsample of about this many pixels per channel.
CONTRAST_SAMPLE_PIXELS = 1 << 20
# How many opened images read_crop_pixels keeps (decoded PNG/JPEG/compressed TIFF, or memmaps).
SOURCE_CACHE_SIZE = 2
# zlib level of display PNGs: level 3 encodes ~3.5x faster than 6 for ~13% more bytes, and
# ingesting a 10,000 x 10,000 image renders ~1,600 of them.
DISPLAY_PNG_COMPRESSION = 3

EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "tiff": ".tif"}
_MAGIC: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
]
# Recognised but refused, so the message can say what the file is.
_UNSUPPORTED_MAGIC: list[tuple[bytes, str]] = [
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"RIFF", "RIFF (WebP/AVI)"),
    (b"%PDF", "PDF"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x93NUMPY", "NumPy .npy"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
]
SUPPORTED_FORMATS = "PNG, JPEG or TIFF"

# Pillow mode -> (channels, dtype, mode to convert to before reading pixels).
_PIL_MODES: dict[str, tuple[int, str, str | None]] = {
    "1": (1, "uint8", "L"),
    "L": (1, "uint8", None),
    "LA": (2, "uint8", None),
    "PA": (4, "uint8", "RGBA"),
    "RGB": (3, "uint8", None),
    "RGBA": (4, "uint8", None),
    "RGBX": (3, "uint8", "RGB"),
    "CMYK": (3, "uint8", "RGB"),
    "YCbCr": (3, "uint8", "RGB"),
    "LAB": (3, "uint8", "RGB"),
    "HSV": (3, "uint8", "RGB"),
    "I;16": (1, "uint16", None),
    "I;16L": (1, "uint16", None),
    "I;16B": (1, "uint16", None),
    "I;16N": (1, "uint16", None),
    "I": (1, "int32", None),
    "F": (1, "float32", None),
}
_PNG_COLOUR_CHANNELS = {2: 3, 4: 2, 6: 4}  # colour type -> channels, for 16-bit colour PNGs


class ImageReadError(DomainError):
    """An uploaded or stored image that cannot be read: corrupt, truncated, unsupported, too big."""

    code = "bad_image"


@dataclass(frozen=True)
class ImageHeader:
    """What the file says about itself, learnt without decoding its pixels."""

    format: str  # "png" | "jpeg" | "tiff"
    width: int
    height: int
    channels: int
    dtype: str  # numpy dtype name of the stored samples, e.g. "uint8", "uint16", "float32"

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width), as numpy and label images count."""
        return (self.height, self.width)


Window = tuple[int, int, int, int]  # (x, y, width, height) in image pixels
# What the readers accept: a path, or an open binary file such as a Django upload.
ImageFile = str | os.PathLike[str] | IO[bytes]
# What they work on: a path (which can be memory-mapped) or the bytes of an upload.
_Data = Path | io.BytesIO


@dataclass(frozen=True)
class PixelSource:
    """An opened image: its header, and a reader of (y, x) slices as an (h, w, C) array.

    Built per format so that memory-mapped TIFFs read only the slices asked for."""

    header: ImageHeader
    read: Callable[[slice, slice], np.ndarray]

    def window(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        """The pixels of one window, as a new (height, width, C) array the caller may modify."""
        if x < 0 or y < 0 or x + width > self.header.width or y + height > self.header.height:
            raise ValueError(f"window {(x, y, width, height)} lies outside the {self.header.width}x"
                             f"{self.header.height} image")
        return np.array(self.read(slice(y, y + height), slice(x, x + width)), copy=True)

    def pixels(self) -> np.ndarray:
        return self.window(0, 0, self.header.width, self.header.height)

    def sample(self, max_pixels: int = CONTRAST_SAMPLE_PIXELS) -> np.ndarray:
        """A strided subsample of the whole image, for statistics that need not see every pixel."""
        step = max(1, math.ceil(math.sqrt(self.header.width * self.header.height / max_pixels)))
        return self.read(slice(None, None, step), slice(None, None, step))


# --- Reading --------------------------------------------------------------------------------


def max_image_pixels() -> int:
    return int(settings.LABELSERVER["MAX_IMAGE_PIXELS"])


def max_image_channels() -> int:
    return cast(int, settings.LABELSERVER["MAX_IMAGE_CHANNELS"])


def max_decoded_bytes() -> int:
    """The most bytes one image may decode to: four 16-bit channels at MAX_IMAGE_PIXELS."""
    return 8 * max_image_pixels()


def file_name(file: ImageFile) -> str:
    """The name to put in messages about a file that was given no other name."""
    if isinstance(file, (str, os.PathLike)):
        return Path(file).name
    return Path(getattr(file, "name", None) or "upload").name


def _as_data(file: ImageFile) -> _Data:
    """A path as a Path; an open file read into memory once, as the old upload reader did (an
    upload need not be seekable, nor a file on disk that could be mapped)."""
    if isinstance(file, (str, os.PathLike)):
        return Path(file)
    return file if isinstance(file, io.BytesIO) else io.BytesIO(file.read())


def _head(data: _Data, size: int) -> bytes:
    if isinstance(data, io.BytesIO):
        with data.getbuffer() as view:  # no copy of the whole upload
            return bytes(view[:size])
    with open(data, "rb") as handle:
        return handle.read(size)


def _all_bytes(data: _Data) -> bytes:
    return data.getvalue() if isinstance(data, io.BytesIO) else data.read_bytes()


def _byte_size(data: _Data) -> int:
    return data.getbuffer().nbytes if isinstance(data, io.BytesIO) else data.stat().st_size


def _rewound(data: _Data) -> _Data:
    """tifffile reads an open file from where it stands (an embedded TIFF): start it at byte 0."""
    if isinstance(data, io.BytesIO):
        data.seek(0)
    return data


def sniff_format(file: ImageFile, *, name: str | None = None) -> str:
    """Tell the format from the first bytes; refuse anything that is not PNG, JPEG or TIFF."""
    name = name or file_name(file)
    try:
        head = _head(_as_data(file), 16)
    except FileNotFoundError:
        raise ImageReadError(f"{name}: file not found")
    except OSError as exc:
        raise ImageReadError(f"{name}: cannot be opened ({exc.strerror or exc})")
    if not head:
        raise ImageReadError(f"{name}: the file is empty")
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    for magic, what in _UNSUPPORTED_MAGIC:
        if head.startswith(magic):
            raise ImageReadError(f"{name}: {what} files are not supported; upload {SUPPORTED_FORMATS} images",
                                 code="unsupported_image")
    raise ImageReadError(f"{name}: not a {SUPPORTED_FORMATS} image (unrecognised file contents)",
                         code="unsupported_image")


def read_header(file: ImageFile, *, name: str | None = None) -> ImageHeader:
    """Read size, channels and dtype without decoding pixels, and refuse images over the limit."""
    return open_source(file, name=name).header


def open_source(file: ImageFile, *, name: str | None = None) -> PixelSource:
    """Open an image for reading. Only the header is read here; pixels are decoded (or mapped)
    on first use. Not cached: see `cached_source` for repeated reads of stored images."""
    name = name or file_name(file)
    data = _as_data(file)
    fmt = sniff_format(data, name=name)
    if fmt == "tiff":
        return _open_tiff(data, name)
    return _open_pil(data, name, fmt)


def read_pixels(path: str | os.PathLike, *, name: str | None = None) -> np.ndarray:
    """All pixels of an image file as (H, W, C) in the stored dtype."""
    return open_source(path, name=name).pixels()


def read_window(path: str | os.PathLike, window: Window, *, name: str | None = None) -> np.ndarray:
    """One (x, y, width, height) window of an image file as (height, width, C)."""
    return cached_source(path, name=name).window(*window)


def _check_size(name: str, width: int, height: int, channels: int, itemsize: int = 1) -> None:
    """Refuse, from the header, an image whose pixels, channels, samples or decoded bytes are
    over the limits (see the module's docstring)."""
    if width < 1 or height < 1 or channels < 1:
        raise ImageReadError(f"{name}: the image has no pixels ({width}x{height}, {channels} channels)")
    if channels > max_image_channels():
        raise ImageReadError(
            f"{name}: the image has {channels:,} channels, over the limit of {max_image_channels()} "
            "(MAX_IMAGE_CHANNELS); a multi-page TIFF's pages are read as channels: keep the ones to label",
            code="too_many_channels",
        )
    _check_samples(name, width, height, channels, itemsize)


def _check_samples(name: str, width: int, height: int, channels: int, itemsize: int) -> None:
    limit = max_image_pixels()
    if width * height > limit:
        raise ImageReadError(
            f"{name}: {width}x{height} is {width * height:,} pixels, over the limit of {limit:,} "
            "(MAX_IMAGE_PIXELS); split it into smaller images",
            code="image_too_large",
        )
    if width * height * channels > 4 * limit:
        raise ImageReadError(
            f"{name}: {width}x{height} with {channels} channels holds more data than the limit allows "
            f"({4 * limit:,} samples: an RGBA image of MAX_IMAGE_PIXELS); keep fewer channels",
            code="image_too_large",
        )
    decoded = width * height * channels * itemsize
    if decoded > max_decoded_bytes():
        raise ImageReadError(
            f"{name}: {width}x{height} with {channels} channels of {itemsize} bytes decodes to {decoded:,} bytes, "
            f"over the limit of {max_decoded_bytes():,} (8 x MAX_IMAGE_PIXELS); keep fewer channels or "
            "convert to a smaller sample type",
            code="image_too_large",
        )


def _read_failed(name: str, exc: BaseException) -> ImageReadError:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, (EOFError, struct.error)) or "truncated" in detail.lower():
        return ImageReadError(f"{name}: the file is truncated or corrupt ({detail})")
    return ImageReadError(f"{name}: the file is corrupt or cannot be decoded ({detail})")


def _native(array: np.ndarray) -> np.ndarray:
    """Native byte order, and bool as uint8, so every consumer sees plain numeric arrays."""
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    if not array.dtype.isnative:
        return array.astype(array.dtype.newbyteorder("="))
    return array


def _to_hwc(array: np.ndarray, axes: str) -> np.ndarray:
    """Move Y and X to the front and flatten every other axis, in file order, into channels."""
    array = np.moveaxis(array, (axes.index("Y"), axes.index("X")), (0, 1))
    return _native(array.reshape(array.shape[0], array.shape[1], -1))


# --- PNG and JPEG (Pillow; imagecodecs for 16-bit colour PNG, which Pillow reduces to 8 bits) --


def _png_ihdr(data: _Data) -> tuple[int, int]:
    """(bit depth, colour type) from the PNG header."""
    head = _head(data, 29)
    if len(head) < 29 or head[12:16] != b"IHDR":
        return (0, -1)
    return head[24], head[25]


def _pil_open(data: _Data, name: str, fmt: str) -> PILImage.Image:
    # Our own check runs right after open (which reads only the header); Pillow's guard, set to
    # the same limit, is the backstop for code paths that bypass it.
    PILImage.MAX_IMAGE_PIXELS = max_image_pixels()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            return PILImage.open(data, formats=[fmt.upper()])  # it rewinds an open file itself
    except PILImage.DecompressionBombError:
        raise ImageReadError(f"{name}: the image is over the limit of {max_image_pixels():,} pixels "
                             "(MAX_IMAGE_PIXELS)", code="image_too_large")
    except Exception as exc:  # Pillow raises many types for bad headers
        raise _read_failed(name, exc)


def _pil_layout(image: PILImage.Image, name: str) -> tuple[int, str, str | None]:
    if image.mode == "P":
        # Palette images are shown as their colours; transparency keeps an alpha channel.
        return (4, "uint8", "RGBA") if "transparency" in image.info else (3, "uint8", "RGB")
    if image.mode not in _PIL_MODES:
        raise ImageReadError(f"{name}: unsupported pixel mode {image.mode!r}", code="unsupported_image")
    channels, dtype, convert = _PIL_MODES[image.mode]
    if image.format == "PNG" and image.mode == "I":
        dtype = "uint16"  # PNG has no 32-bit grey: Pillow widens 16-bit grey to "I"
    return channels, dtype, convert


def _open_pil(data: _Data, name: str, fmt: str) -> PixelSource:
    bit_depth, colour_type = _png_ihdr(data) if fmt == "png" else (0, -1)
    with _pil_open(data, name, fmt) as image:
        width, height = image.size
        if bit_depth == 16 and colour_type in _PNG_COLOUR_CHANNELS:
            channels, dtype, convert = _PNG_COLOUR_CHANNELS[colour_type], "uint16", None
        else:
            channels, dtype, convert = _pil_layout(image, name)
    header = ImageHeader(fmt, width, height, channels, dtype)
    _check_size(name, width, height, channels, np.dtype(dtype).itemsize)
    decode = _decode_png16 if bit_depth == 16 and colour_type in _PNG_COLOUR_CHANNELS else _decode_pil
    return _lazy_array_source(header, lambda: decode(data, name, header, convert))


def _decode_pil(data: _Data, name: str, header: ImageHeader, convert: str | None) -> np.ndarray:
    try:
        if header.format == "png":
            with _pil_open(data, name, header.format) as image:
                image.verify()  # checks every chunk's CRC, which catches truncation and bit rot
        with _pil_open(data, name, header.format) as image:
            image.seek(0)  # first frame of an animated PNG or multi-picture JPEG
            image.load()
            if convert:
                image = image.convert(convert)
            array = np.asarray(image)
    except ImageReadError:
        raise
    except Exception as exc:  # Pillow and zlib raise many types for broken data
        raise _read_failed(name, exc)
    return _native(array.reshape(header.height, header.width, -1).astype(header.dtype, copy=False))


def _decode_png16(data: _Data, name: str, header: ImageHeader, convert: str | None) -> np.ndarray:
    try:
        array = imagecodecs.png_decode(_all_bytes(data))
    except Exception as exc:  # imagecodecs.PngError and friends
        raise _read_failed(name, exc)
    return _native(array.reshape(header.height, header.width, -1))


def _lazy_array_source(header: ImageHeader, decode: Callable[[], np.ndarray]) -> PixelSource:
    """A source that decodes the whole image on first read and keeps it (read-only)."""

    @lru_cache(maxsize=1)
    def whole() -> np.ndarray:
        array = decode()
        array.flags.writeable = False
        return array

    return PixelSource(header, lambda ys, xs: whole()[ys, xs])


# --- TIFF (tifffile) ------------------------------------------------------------------------


def _open_tiff(data: _Data, name: str) -> PixelSource:
    try:
        with tifffile.TiffFile(_rewound(data)) as tif:
            series = _only_series(tif, name)
            axes, shape = series.axes, tuple(series.shape)
            header = _tiff_header(name, axes, shape, series.dtype)
            _check_tiff_extent(name, series, _byte_size(data))
            reader = _tiff_reader(data, name, series)
    except ImageReadError:
        raise
    except Exception as exc:  # tifffile.TiffFileError, struct.error, codec errors, ...
        raise _read_failed(name, exc)
    return PixelSource(header, reader)


# Series of a whole-slide file that are not the image (tifffile's names for them).
_COMPANION_SERIES = frozenset({"Thumbnail", "Label", "Macro"})


def _only_series(tif: tifffile.TiffFile, name: str) -> tifffile.TiffPageSeries:
    """The file's one image series. Reading the first of several would quietly drop the others."""
    series = [s for s in tif.series if s.name not in _COMPANION_SERIES] or list(tif.series[:1])
    if not series:
        raise ImageReadError(f"{name}: the TIFF holds no image")
    if len(series) > 1:
        shapes = ", ".join("x".join(map(str, s.shape)) for s in series[:4]) + (", ..." if len(series) > 4 else "")
        raise ImageReadError(
            f"{name}: the TIFF holds {len(series)} separate images (series of shapes {shapes}); labelserver reads "
            "one image per file: save each as its own file",
            code="unsupported_image",
        )
    return series[0]


def _tiff_header(name: str, axes: str, shape: tuple[int, ...], dtype: np.dtype | None) -> ImageHeader:
    if "Y" not in axes or "X" not in axes:
        raise ImageReadError(f"{name}: the TIFF holds no 2-D image plane (axes {axes!r})")
    sizes = dict(zip(axes, shape, strict=True))
    for axis, what in (("Z", "a z-stack"), ("T", "a time series")):
        if sizes.get(axis, 1) > 1:
            raise ImageReadError(
                f"{name}: the TIFF is {what} ({sizes[axis]} planes along {axis}, axes {axes}); labelserver "
                "labels 2-D images: export one plane or a projection",
                code="unsupported_image",
            )
    if dtype is None or np.dtype(dtype).kind not in "uifb":
        raise ImageReadError(f"{name}: unsupported TIFF sample type {dtype}", code="unsupported_image")
    channels = math.prod(size for axis, size in sizes.items() if axis not in "YX")
    width, height = sizes["X"], sizes["Y"]
    kind = np.dtype(dtype)
    _check_size(name, width, height, channels, kind.itemsize)
    return ImageHeader("tiff", width, height, channels, "uint8" if kind == np.bool_ else kind.name)


def _check_tiff_extent(name: str, series: tifffile.TiffPageSeries, file_size: int) -> None:
    """Refuse a TIFF whose pixel data would run past the end of the file (truncated upload)."""
    end = 0
    for page in series.pages:
        if page is None:
            continue
        for offset, count in zip(page.dataoffsets, page.databytecounts, strict=False):
            end = max(end, offset + count)
    if end > file_size:
        raise ImageReadError(f"{name}: the file is truncated (pixel data runs to byte {end:,}, "
                             f"the file has {file_size:,})")


def _tiff_reader(data: _Data, name: str, series: tifffile.TiffPageSeries) -> Callable[[slice, slice], np.ndarray]:
    """Read windows through tifffile's memory maps where it can make them; else decode whole once."""
    mapped = _tiff_memmaps(data, series) if isinstance(data, Path) else None
    if mapped is None:
        return _decode_tiff_lazily(data, name, series.axes)
    maps, axes = mapped
    if len(maps) == 1:
        return lambda ys, xs: _to_hwc(maps[0][_plane_index(axes, ys, xs)], axes)
    return lambda ys, xs: _to_hwc(np.stack([m[_plane_index(axes, ys, xs)] for m in maps]), "I" + axes)


def _tiff_memmaps(path: Path, series: tifffile.TiffPageSeries) -> tuple[list[np.memmap], str] | None:
    """tifffile's read-only memory maps of the series and the axes of each map, or None.

    One map when the series is one run of raw samples; else one per page, as a plain multi-page
    TIFF stores each page's IFD between the pages' data. A memory map can only view raw samples,
    so tifffile refuses (ValueError) compressed, tiled, predicted or unaligned data: those are
    decoded whole instead, which costs memory but is always correct."""
    if series.dataoffset is not None:
        return [tifffile.memmap(path, series=0, mode="r")], series.axes
    indexes = [page.index for page in series.pages if page is not None]
    if len(indexes) < len(series.pages):
        return None  # a page is missing: leave the file to tifffile's decoder
    try:
        return [tifffile.memmap(path, page=index, mode="r") for index in indexes], series.keyframe.axes
    except ValueError:
        return None


def _plane_index(axes: str, ys: slice, xs: slice) -> tuple[slice, ...]:
    return tuple(ys if axis == "Y" else xs if axis == "X" else slice(None) for axis in axes)


def _decode_tiff_lazily(data: _Data, name: str, axes: str) -> Callable[[slice, slice], np.ndarray]:
    """Windows of a TIFF that cannot be memory-mapped (compressed, tiled, predicted), decoded
    through tifffile's zarr store: only the tiles or strips a read touches are decoded."""
    try:
        # The store keeps the file open for as long as the source is read (an upload's bytes are
        # in memory already); read_only, as a BytesIO would otherwise count as writable.
        store = tifffile.TiffFile(_rewound(data)).series[0].aszarr(level=0, read_only=True)
        array = zarr.open_array(store, mode="r")
    except Exception as exc:  # tifffile and imagecodecs raise many types for broken data
        raise _read_failed(name, exc)
    return _BandReader(array, axes, name)


class _BandReader:
    """Reads windows of a zarr view of a TIFF a band at a time: a band is every column of the
    tile rows (or strips) a window spans, decoded once and kept until a window falls outside it.
    Crops are cut row by row, so each tile is decoded about once however small the crops, and
    memory holds one band (the image's width times a tile's height or a crop's), not the image.
    Strided reads (the contrast sample) go to zarr directly."""

    def __init__(self, array: zarr.Array, axes: str, name: str) -> None:
        self.array, self.axes, self.name = array, axes, name
        self.chunk_rows = int(array.chunks[axes.index("Y")])
        self.band: np.ndarray | None = None
        self.band_rows = (0, 0)

    def __call__(self, ys: slice, xs: slice) -> np.ndarray:
        if ys.step not in (None, 1) or ys.start is None or ys.stop is None:
            return self._read(ys, xs)
        first, last = self.band_rows
        if not (first <= ys.start and ys.stop <= last):
            top = ys.start // self.chunk_rows * self.chunk_rows
            bottom = -(-ys.stop // self.chunk_rows) * self.chunk_rows
            self.band = None  # let the old band go before the new one is decoded
            self.band = self._read(slice(top, bottom), slice(None))
            self.band_rows = (top, top + self.band.shape[0])
        assert self.band is not None
        return self.band[ys.start - self.band_rows[0] : ys.stop - self.band_rows[0], xs]

    def _read(self, ys: slice, xs: slice) -> np.ndarray:
        try:
            window = self.array[_plane_index(self.axes, ys, xs)]
        except Exception as exc:  # a tile that does not decode: the file is broken there
            raise _read_failed(self.name, exc)
        array = _to_hwc(np.asarray(window), self.axes)
        array.flags.writeable = False
        return array


# --- Stored images and crops ----------------------------------------------------------------


@lru_cache(maxsize=SOURCE_CACHE_SIZE)
def _cached_source(path: str, name: str, size: int, mtime_ns: int) -> PixelSource:
    return open_source(path, name=name)


def cached_source(path: str | os.PathLike, *, name: str | None = None) -> PixelSource:
    """`open_source` through a small cache keyed by the file's identity (path, size, mtime), so
    many crops of one image cost one decode. Sources are read-only and safe to share."""
    path = os.fspath(path)
    try:
        stat = os.stat(path)
    except OSError:
        return open_source(path, name=name)  # raises a clear "file not found"
    return _cached_source(path, name or Path(path).name, stat.st_size, stat.st_mtime_ns)


def stored_path(image: Image) -> str:
    """A local path of an image's stored original (memory-mapping needs a real file): the file on a
    local disk, else its copy in the storage cache."""
    return str(storage.local_path(image.file.name))


def read_image_pixels(image: Image) -> np.ndarray:
    """All pixels of a stored image as (H, W, C) in its stored dtype."""
    return cached_source(stored_path(image), name=image.original_name).pixels()


def read_crop_pixels(crop: Crop) -> np.ndarray:
    """A crop's raw pixels, (height, width, C) in the image's stored dtype, from the original.

    Reading the crops of one image in a row decodes it once (see SOURCE_CACHE_SIZE); sort crops
    by image when reading many."""
    source = cached_source(stored_path(crop.image), name=crop.image.original_name)
    return source.window(crop.x, crop.y, crop.width, crop.height)


# --- Label images ---------------------------------------------------------------------------


def read_label_image(file: ImageFile, shape: tuple[int, int] | None = None, *, name: str | None = None,
                     shape_of: str = "its image") -> np.ndarray:
    """A label image (16-bit PNG, Cellpose *_masks.png, label TIFF), from a path or an uploaded
    file, as a validated uint16 (H, W) array: one channel, whole ids 0..65535, `shape` when given.

    The one reader for API uploads and ingestion. `name` names the file in messages (the file
    name, or the form field "mask_file"); `shape_of` says whose size `shape` is ("the crop")."""
    name = name or file_name(file)
    return as_label_image(read_label_plane(file, shape, name=name, shape_of=shape_of), shape, name=name)


def read_label_plane(file: ImageFile, shape: tuple[int, int] | None = None, *, name: str | None = None,
                     shape_of: str = "its image") -> np.ndarray:
    """The one channel of a label image file as (H, W) in its stored dtype; its ids are left for
    the caller to check (16-bit masks, or 32-bit stitched label images). Format, channel count
    and size are checked from the header, before any pixel is decoded. Every problem is a MaskError."""
    source = open_label_source(file, shape, name=name, shape_of=shape_of)
    try:
        return source.pixels()[..., 0]
    except ImageReadError as exc:
        raise MaskError(str(exc)) from None  # a label file's problem is a mask problem, whatever broke


def open_label_source(file: ImageFile, shape: tuple[int, int] | None = None, *, name: str | None = None,
                      shape_of: str = "its image") -> PixelSource:
    """A label image file opened for reading windows (its one channel as (h, w, 1)), after the
    checks `read_label_plane` makes from the header. A window's ids are the caller's to check
    (`as_label_image`); a big TIFF label image is then never held whole."""
    name = name or file_name(file)
    data = _as_data(file)
    fmt = _label_format(data, name)
    try:
        # The image reader starts its messages with the name it is given: say first what failed.
        source = open_source(data, name=f"{name}: not a readable {fmt.upper()}")
        _check_label_header(source.header, shape, name, shape_of)
    except ImageReadError as exc:
        raise MaskError(str(exc)) from None  # a label file's problem is a mask problem, whatever broke
    return source


def _label_format(data: _Data, name: str) -> str:
    """The file's format, which must be lossless ("png" or "tiff"): JPEG would change cell ids."""
    try:
        fmt = sniff_format(data, name=name)
    except ImageReadError as exc:
        if exc.code != "unsupported_image":
            raise MaskError(str(exc)) from None  # missing or empty
        fmt = "unsupported"
    if fmt == "jpeg":
        raise MaskError(f"{name}: label images must be lossless (PNG or TIFF); JPEG changes cell ids")
    if fmt not in ("png", "tiff"):
        raise MaskError(f"{name} must be a PNG or TIFF label image")
    return fmt


def _check_label_header(header: ImageHeader, shape: tuple[int, int] | None, name: str, shape_of: str) -> None:
    if header.channels != 1:
        raise MaskError(f"{name}: a label image has one channel (cell ids), this one has {header.channels}")
    if shape is not None and header.shape != tuple(shape):
        raise MaskError(f"{name}: the label image is {header.width}x{header.height} (width x height) but "
                        f"{shape_of} is {shape[1]}x{shape[0]}")


# --- Tiling ---------------------------------------------------------------------------------


def tile_positions(length: int, crop: int, overlap: int) -> list[tuple[int, int]]:
    """(start, size) along one axis: one short crop if the image is shorter than a crop;
    otherwise the fewest full crops, spread evenly, overlapping by at least `overlap`, the
    first at 0 and the last ending at the border."""
    if length <= crop:
        return [(0, length)]
    count = math.ceil((length - overlap) / (crop - overlap))
    # Floor division keeps every gap <= crop - overlap, so the overlap is never short by one.
    return [(i * (length - crop) // (count - 1), crop) for i in range(count)]


def tile_windows(width: int, height: int, crop_size: int, overlap: int) -> list[Window]:
    """The crop windows (x, y, w, h) of a width x height image, row by row."""
    if crop_size < 1:
        raise DomainError(f"crop size must be at least 1 pixel, got {crop_size}", code="bad_tiling")
    if not 0 <= overlap < crop_size:
        raise DomainError(f"crop overlap must lie in 0..{crop_size - 1} (below the crop size), got {overlap}",
                          code="bad_tiling")
    if width < 1 or height < 1:
        return []
    columns = tile_positions(width, crop_size, overlap)
    rows = tile_positions(height, crop_size, overlap)
    return [(x, y, w, h) for y, h in rows for x, w in columns]


# --- Display rendering ----------------------------------------------------------------------


@dataclass(frozen=True)
class DisplayLevels:
    """Which channels to show and the per-channel (low, high) that map to black and white."""

    channels: tuple[int, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]


def display_channels(n_channels: int, requested: list[int] | None = None, *, name: str = "image") -> tuple[int, ...]:
    """The channels to show: the project's display_channels when set (1 = grey, 2 = red/green,
    3 = RGB), else the first channel, or the first three of an image that has three or more."""
    if not requested:
        return (0, 1, 2) if n_channels >= 3 else (0,)
    chosen = tuple(int(c) for c in requested)
    if len(chosen) > 3:
        raise DomainError(f"at most 3 display channels can be shown, the project asks for {list(chosen)}",
                          code="bad_display_channels")
    missing = [c for c in chosen if not 0 <= c < n_channels]
    if missing:
        raise ImageReadError(f"{name}: the project displays channels {list(chosen)} but the image has "
                             f"{n_channels} channel(s) (0..{n_channels - 1})", code="bad_display_channels")
    return chosen


def display_levels(source: PixelSource, channels: tuple[int, ...]) -> DisplayLevels:
    """Per-channel percentile contrast, computed once per image so all its crops match."""
    sample = source.sample()
    lows, highs = [], []
    for channel in channels:
        values = sample[..., channel].astype(np.float64, copy=False)
        finite = values[np.isfinite(values)]
        low, high = np.percentile(finite, DISPLAY_PERCENTILES) if finite.size else (0.0, 1.0)
        lows.append(float(low))
        highs.append(float(high))
    return DisplayLevels(tuple(channels), tuple(lows), tuple(highs))


def to_display(window: np.ndarray, levels: DisplayLevels) -> np.ndarray:
    """(h, w) uint8 for one channel, (h, w, 3) for two or three channels."""
    low = np.asarray(levels.low, dtype=np.float32)
    span = np.asarray(levels.high, dtype=np.float32) - low
    span[span <= 0] = 1  # a flat channel shows black rather than dividing by zero
    values = (window[..., list(levels.channels)].astype(np.float32) - low) / span
    display = np.clip(np.nan_to_num(values) * 255 + 0.5, 0, 255).astype(np.uint8)
    if display.shape[-1] == 1:
        return display[..., 0]
    if display.shape[-1] == 2:
        return np.concatenate([display, np.zeros_like(display[..., :1])], axis=-1)
    return display


def render_display_png(window: np.ndarray, levels: DisplayLevels) -> bytes:
    """An 8-bit PNG of a crop window (grey or RGB) for the labelling tool."""
    buffer = io.BytesIO()
    PILImage.fromarray(to_display(window, levels)).save(buffer, format="PNG", compress_level=DISPLAY_PNG_COMPRESSION)
    return buffer.getvalue()
