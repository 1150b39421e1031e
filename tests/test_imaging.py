"""Reading real microscopy files (PNG, 16-bit multi-channel TIFF, OME-TIFF), refusing bad ones
before decoding, tiling arithmetic, and display rendering."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from annotations.imaging import (
    ImageReadError,
    display_channels,
    display_levels,
    open_source,
    read_header,
    read_label_image,
    read_pixels,
    read_window,
    render_display_png,
    tile_windows,
    to_display,
)
from annotations.masks import MaskError
from labelserver.errors import DomainError
from tests.conftest import DATA

U2OS = DATA / "dsb2018_u2os"
U2OS_IMAGE = U2OS / "images" / "0b0d577159f0.png"
U2OS_MASK = U2OS / "masks" / "0b0d577159f0.png"
BRIGHTFIELD_IMAGE = sorted((DATA / "dsb2018_brightfield" / "images").glob("*.png"))[0]


@pytest.fixture(autouse=True)
def _restore_pillow_guard(monkeypatch):
    """Reading sets Pillow's process-wide bomb limit from settings; undo tests' tiny limits."""
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", PILImage.MAX_IMAGE_PIXELS)


def real_grey() -> np.ndarray:
    return np.asarray(PILImage.open(U2OS_IMAGE))


def real_stack() -> np.ndarray:
    """(520, 696, 3) uint16 from real pixels: the nuclei, their inverse, and the label image."""
    grey = real_grey().astype(np.uint16) * 257
    labels = np.asarray(PILImage.open(U2OS_MASK)).astype(np.uint16)
    return np.stack([grey, 65535 - grey, labels], axis=-1)


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height but which holds no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    path.write_bytes(data + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND")))
    return path


# --- Tiling ---------------------------------------------------------------------------------


def test_it_makes_one_crop_of_the_image_size_when_the_image_is_smaller_than_a_crop():
    assert tile_windows(100, 50, 256, 0) == [(0, 0, 100, 50)]
    assert tile_windows(256, 256, 256, 16) == [(0, 0, 256, 256)]


def test_it_tiles_an_exact_multiple_without_overlap():
    assert tile_windows(512, 256, 256, 0) == [(0, 0, 256, 256), (256, 0, 256, 256)]


def test_it_adds_a_crop_touching_the_border_when_one_pixel_is_left_over():
    xs = [x for x, _, _, _ in tile_windows(513, 100, 256, 0)]
    assert xs == [0, 128, 257]


def test_it_spreads_overlapping_crops_evenly():
    windows = tile_windows(696, 520, 256, 32)
    assert sorted({x for x, *_ in windows}) == [0, 220, 440]
    assert sorted({y for _, y, *_ in windows}) == [0, 132, 264]
    assert {(w, h) for *_, w, h in windows} == {(256, 256)}


def test_it_keeps_a_short_axis_whole_beside_a_tiled_one():
    assert tile_windows(600, 100, 256, 0) == [(0, 0, 256, 100), (172, 0, 256, 100), (344, 0, 256, 100)]


@pytest.mark.parametrize("crop", [1, 2, 7, 64, 256])
def test_tiling_covers_every_length_with_full_crops_and_the_least_count(crop):
    for overlap in sorted({0, crop // 4, crop // 2, crop - 1}):
        for length in range(1, 4 * crop + 3):
            starts = [x for x, _, _, _ in tile_windows(length, 1, crop, overlap)]
            if length <= crop:
                assert starts == [0]
                continue
            assert starts[0] == 0 and starts[-1] == length - crop
            gaps = np.diff(starts)
            assert (gaps > 0).all() and (crop - gaps >= overlap).all()
            # One crop fewer could not reach the border with that overlap.
            assert crop + (len(starts) - 2) * (crop - overlap) < length


@pytest.mark.parametrize("crop, overlap", [(0, 0), (256, 256), (256, 300), (256, -1)])
def test_it_refuses_impossible_tiling(crop, overlap):
    with pytest.raises(DomainError, match="crop"):
        tile_windows(1000, 1000, crop, overlap)


# --- Real PNGs ------------------------------------------------------------------------------


def test_it_reads_the_header_of_the_shipped_images():
    assert read_header(U2OS_IMAGE).__dict__ == {
        "format": "png", "width": 696, "height": 520, "channels": 1, "dtype": "uint8"}
    bright = read_header(BRIGHTFIELD_IMAGE)
    assert (bright.width, bright.height, bright.channels, bright.dtype) == (320, 256, 3, "uint8")
    assert read_header(U2OS_MASK).dtype == "uint16"


def test_it_reads_pngs_as_height_width_channels():
    assert np.array_equal(read_pixels(U2OS_IMAGE)[..., 0], real_grey())
    rgb = read_pixels(BRIGHTFIELD_IMAGE)
    assert rgb.shape == (256, 320, 3)
    assert np.array_equal(rgb, np.asarray(PILImage.open(BRIGHTFIELD_IMAGE).convert("RGB")))


def test_it_keeps_16_bit_colour_pngs_16_bit(tmp_path):
    stack = real_stack()
    path = tmp_path / "rgb16.png"
    path.write_bytes(imagecodecs.png_encode(stack))
    header = read_header(path)
    assert (header.channels, header.dtype) == (3, "uint16")
    assert np.array_equal(read_pixels(path), stack)


def test_it_reads_jpeg_and_rgba_png(tmp_path):
    jpeg, rgba = tmp_path / "nuclei.jpeg", tmp_path / "rgba.png"
    PILImage.fromarray(real_grey()).save(jpeg, format="JPEG", quality=95)
    colour = np.asarray(PILImage.open(BRIGHTFIELD_IMAGE).convert("RGBA"))
    PILImage.fromarray(colour).save(rgba)
    assert read_header(jpeg).__dict__ == {"format": "jpeg", "width": 696, "height": 520, "channels": 1,
                                          "dtype": "uint8"}
    assert np.abs(read_pixels(jpeg)[..., 0].astype(int) - real_grey()).mean() < 2
    assert np.array_equal(read_pixels(rgba), colour)
    assert display_channels(read_header(rgba).channels) == (0, 1, 2)
    with pytest.raises(MaskError, match="lossless"):
        read_label_image(jpeg)


def test_it_reads_a_window_without_changing_the_cached_image():
    window = read_window(U2OS_IMAGE, (10, 20, 30, 40))
    assert np.array_equal(window[..., 0], real_grey()[20:60, 10:40])
    window[:] = 0
    assert np.array_equal(read_window(U2OS_IMAGE, (10, 20, 30, 40))[..., 0], real_grey()[20:60, 10:40])


# --- TIFF -----------------------------------------------------------------------------------


def write_tiff_variants(folder: Path, stack: np.ndarray) -> dict[str, Path]:
    planar = np.moveaxis(stack, -1, 0)
    paths = {name: folder / f"{name}.tif" for name in
             ("rgb_zlib", "planar", "ome", "ome_tiled", "pages", "imagej", "big_endian")}
    tifffile.imwrite(paths["rgb_zlib"], stack, photometric="rgb", compression="zlib")
    tifffile.imwrite(paths["planar"], planar, photometric="minisblack")
    tifffile.imwrite(paths["ome"], planar, ome=True, metadata={"axes": "CYX"})
    tifffile.imwrite(paths["ome_tiled"], planar, ome=True, metadata={"axes": "CYX"}, tile=(128, 128),
                     compression="zlib")
    with tifffile.TiffWriter(paths["pages"]) as writer:
        for plane in planar:
            writer.write(plane, metadata=None)
    tifffile.imwrite(paths["imagej"], planar[None, None], imagej=True, metadata={"axes": "TZCYX"})
    tifffile.imwrite(paths["big_endian"], planar, byteorder=">", photometric="minisblack")
    return paths


def test_it_reads_16_bit_multichannel_tiffs_in_every_layout(tmp_path):
    stack = real_stack()
    for name, path in write_tiff_variants(tmp_path, stack).items():
        header = read_header(path)
        assert (header.format, header.width, header.height, header.channels, header.dtype) == (
            "tiff", 696, 520, 3, "uint16"), name
        pixels = read_pixels(path)
        assert pixels.dtype == np.uint16 and pixels.dtype.isnative, name
        assert np.array_equal(pixels, stack), name
        assert np.array_equal(read_window(path, (600, 500, 96, 20)), stack[500:520, 600:696]), name


def test_it_reads_a_float_tiff_in_its_own_dtype(tmp_path):
    path = tmp_path / "float.tif"
    values = real_grey().astype(np.float32) / 255
    tifffile.imwrite(path, values)
    assert read_header(path).dtype == "float32"
    assert np.array_equal(read_pixels(path)[..., 0], values)


@pytest.mark.parametrize("axes, words", [("ZYX", "z-stack"), ("TYX", "time series")])
def test_it_refuses_stacks_it_cannot_label_in_2d(tmp_path, axes, words):
    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(path, np.moveaxis(real_stack(), -1, 0), ome=True, metadata={"axes": axes})
    with pytest.raises(ImageReadError, match=words) as caught:
        read_header(path)
    assert "stack.ome.tif" in str(caught.value)


def test_a_tiff_crop_reads_only_its_window_or_its_band_of_tiles(tmp_path):
    big = np.tile(real_grey().astype(np.uint16), (6, 4))  # 3120 x 2784, 17 MB
    mapped, compressed, tiled = tmp_path / "mapped.tif", tmp_path / "compressed.tif", tmp_path / "tiled.tif"
    tifffile.imwrite(mapped, big)
    tifffile.imwrite(compressed, big, compression="zlib")
    tifffile.imwrite(tiled, big, compression="zlib", tile=(256, 256))

    def peak_bytes(path: Path) -> int:
        tracemalloc.start()
        window = open_source(path).window(1000, 1000, 64, 64)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert np.array_equal(window[..., 0], big[1000:1064, 1000:1064])
        return peak

    assert peak_bytes(mapped) < 1_000_000
    # Compressed: the strips or tile rows the window spans, decoded; never the whole image.
    assert peak_bytes(compressed) < big.nbytes / 4
    assert peak_bytes(tiled) < big.nbytes / 4


def test_a_plain_multi_page_tiff_is_memory_mapped_page_by_page(tmp_path):
    big = np.tile(real_grey().astype(np.uint16), (6, 4))  # 3120 x 2784, 17 MB a page
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as writer:  # each page's IFD lies between the pages' data
        for page in (big, 65535 - big):
            writer.write(page, metadata=None)
    tracemalloc.start()
    window = open_source(path).window(1000, 1000, 64, 64)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.array_equal(window, np.stack([big, 65535 - big], axis=-1)[1000:1064, 1000:1064])
    assert peak < 1_000_000


# --- Bad files ------------------------------------------------------------------------------


def bad_files(folder: Path) -> dict[str, Path]:
    png = U2OS_IMAGE.read_bytes()
    tiff = folder / "good.tif"
    tifffile.imwrite(tiff, real_stack())
    corrupt = bytearray(png)
    corrupt[len(png) // 2 : len(png) // 2 + 64] = bytes(64)
    jpeg = io.BytesIO()
    PILImage.fromarray(real_grey()).save(jpeg, format="JPEG")
    gif = io.BytesIO()
    PILImage.fromarray(real_grey()).save(gif, format="GIF")
    files = {
        "corrupt.png": bytes(corrupt),
        "truncated.png": png[: len(png) // 2],
        "truncated.tif": tiff.read_bytes()[:-5000],
        "truncated.jpg": jpeg.getvalue()[: len(jpeg.getvalue()) // 2],
        "notes.tif": b"this is a text file, not an image\n",
        "cells.gif": gif.getvalue(),
        "empty.png": b"",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


@pytest.mark.parametrize("name, words", [
    ("corrupt.png", "corrupt"),
    ("truncated.png", "truncated"),
    ("truncated.tif", "truncated"),
    ("truncated.jpg", "truncated"),
    ("notes.tif", "not a PNG, JPEG or TIFF"),
    ("cells.gif", "GIF files are not supported"),
    ("empty.png", "empty"),
])
def test_it_refuses_bad_files_naming_the_file_and_the_problem(tmp_path, name, words):
    path = bad_files(tmp_path)[name]
    with pytest.raises(ImageReadError, match=words) as caught:
        read_pixels(path, name=f"upload-{name}")
    assert f"upload-{name}" in str(caught.value)
    assert caught.value.http_status == 400


def test_it_refuses_an_image_over_the_pixel_limit_before_decoding(settings, tmp_path):
    # The header claims 100,000 x 100,000 and there are no pixels: decoding could only fail.
    bomb = png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
    tiff = tmp_path / "big.tif"
    tifffile.imwrite(tiff, real_grey())
    with pytest.raises(ImageReadError, match="over the limit") as caught:
        read_header(bomb)
    assert caught.value.code == "image_too_large"
    settings.LABELSERVER = {**settings.LABELSERVER, "MAX_IMAGE_PIXELS": 696 * 520 - 1}
    with pytest.raises(ImageReadError, match="361,919"):
        read_header(U2OS_IMAGE)
    assert PILImage.MAX_IMAGE_PIXELS == 696 * 520 - 1  # Pillow's own guard follows the setting
    with pytest.raises(ImageReadError, match="over the limit"):
        read_header(tiff)


def test_it_refuses_too_many_channels_for_the_limit(settings, tmp_path):
    settings.LABELSERVER = {**settings.LABELSERVER, "MAX_IMAGE_PIXELS": 696 * 520}
    path = tmp_path / "many.tif"
    tifffile.imwrite(path, np.zeros((5, 520, 696), np.uint8))
    with pytest.raises(ImageReadError, match="5 channels"):
        read_header(path)


# --- Label images ---------------------------------------------------------------------------


def test_it_reads_a_label_image_as_uint16():
    labels = read_label_image(U2OS_MASK, (520, 696))
    assert labels.dtype == np.uint16
    assert np.array_equal(labels, np.asarray(PILImage.open(U2OS_MASK)))


@pytest.mark.parametrize("values, dtype, words", [
    ([[0, 1], [2, -3]], np.int16, "negative"),
    ([[0, 1.5], [2, 3]], np.float32, "non-integer"),
])
def test_it_refuses_label_images_with_impossible_ids(tmp_path, values, dtype, words):
    path = tmp_path / "labels.tif"
    tifffile.imwrite(path, np.asarray(values, dtype=dtype))
    with pytest.raises(MaskError, match=words):
        read_label_image(path)


def test_it_refuses_label_images_of_another_size_or_with_colour():
    with pytest.raises(MaskError, match="696x520"):
        read_label_image(U2OS_MASK, (256, 256))
    with pytest.raises(MaskError, match="one channel"):
        read_label_image(BRIGHTFIELD_IMAGE)


def upload(data: bytes, name: str = "mask.png") -> io.BytesIO:
    """What an API upload looks like to the reader: an open binary file with a name."""
    file = io.BytesIO(data)
    file.name = name
    return file


def test_it_reads_uploaded_label_images_as_png_or_tiff():
    labels = np.asarray(PILImage.open(U2OS_MASK)).astype(np.uint16) + 1000  # ids beyond 8 bits
    png, tiff = io.BytesIO(), io.BytesIO()
    PILImage.fromarray(labels).save(png, format="PNG")
    tifffile.imwrite(tiff, labels[None])  # a leading axis of one is still one plane
    for data in (png.getvalue(), tiff.getvalue()):
        read = read_label_image(upload(data), (520, 696), name="mask_file", shape_of="the crop")
        assert read.dtype == np.uint16 and np.array_equal(read, labels)


def test_it_refuses_bad_uploads_naming_the_field(tmp_path):
    tiff = io.BytesIO()
    tifffile.imwrite(tiff, np.zeros((20, 10), np.uint16))
    cases = {
        b"not an image at all": "^mask_file must be a PNG or TIFF label image$",
        b"\x89PNG\r\n\x1a\n truncated": "^mask_file: not a readable PNG: ",
        tiff.getvalue()[:-100]: "^mask_file: not a readable TIFF: the file is truncated",
        # Only a header, so the size must have been checked before any pixel was decoded.
        png_header_only(tmp_path / "h.png", 64, 64).read_bytes():
            r"^mask_file: the label image is 64x64 \(width x height\) but the crop is 128x128$",
        b"": "mask_file: the file is empty",
    }
    for data, message in cases.items():
        with pytest.raises(MaskError, match=message):
            read_label_image(upload(data), (128, 128), name="mask_file", shape_of="the crop")


# --- Display --------------------------------------------------------------------------------


def test_crops_of_one_image_share_its_contrast():
    source = open_source(U2OS_IMAGE)
    levels = display_levels(source, display_channels(1))
    whole = to_display(source.pixels(), levels)
    assert whole.dtype == np.uint8 and whole.min() == 0 and whole.max() == 255
    for x, y, w, h in tile_windows(696, 520, 256, 0):
        assert np.array_equal(to_display(source.window(x, y, w, h), levels), whole[y : y + h, x : x + w])


def test_it_renders_grey_and_rgb_pngs():
    grey = open_source(U2OS_IMAGE)
    png = render_display_png(grey.window(0, 0, 256, 200), display_levels(grey, display_channels(1)))
    assert (PILImage.open(io.BytesIO(png)).mode, PILImage.open(io.BytesIO(png)).size) == ("L", (256, 200))
    rgb = open_source(BRIGHTFIELD_IMAGE)
    png = render_display_png(rgb.pixels(), display_levels(rgb, display_channels(3)))
    assert PILImage.open(io.BytesIO(png)).mode == "RGB"


def test_it_maps_two_display_channels_to_red_and_green(tmp_path):
    path = tmp_path / "two.tif"
    tifffile.imwrite(path, np.moveaxis(real_stack()[..., :2], -1, 0))
    source = open_source(path)
    shown = to_display(source.pixels(), display_levels(source, display_channels(2, [1, 0])))
    assert shown.shape == (520, 696, 3) and not shown[..., 2].any()
    assert np.corrcoef(shown[..., 1].ravel(), real_grey().ravel())[0, 1] > 0.95


def test_it_chooses_display_channels_from_the_project_or_the_channel_count():
    assert display_channels(1) == (0,)
    assert display_channels(2) == (0,)
    assert display_channels(4) == (0, 1, 2)
    assert display_channels(4, [3]) == (3,)
    with pytest.raises(ImageReadError, match="only|channel"):
        display_channels(1, [0, 1, 2], name="grey.png")
    with pytest.raises(DomainError, match="at most 3"):
        display_channels(5, [0, 1, 2, 3])


# --- Channels, decoded bytes and series ---------------------------------------------


def test_a_small_compressed_tiff_of_1800_pages_is_refused_from_its_header(tmp_path):
    """2.4 MB on disk, 1,800 float32 pages: read as 1,800 channels it cost 2.3 GB of memory."""
    path = tmp_path / "pages.tif"
    tifffile.imwrite(path, np.zeros((1800, 256, 256), np.float32), compression="zlib")
    tracemalloc.start()
    with pytest.raises(ImageReadError, match=r"1,800 channels.*MAX_IMAGE_CHANNELS") as refused:
        read_header(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert refused.value.code == "too_many_channels"
    assert peak < 50 * 2**20  # the header, not the pixels


def test_the_channel_limit_is_a_setting(settings, tmp_path):
    path = tmp_path / "five.tif"
    tifffile.imwrite(path, np.zeros((5, 32, 32), np.uint8))
    assert read_header(path).channels == 5
    settings.LABELSERVER = {**settings.LABELSERVER, "MAX_IMAGE_CHANNELS": 4}
    with pytest.raises(ImageReadError, match="5 channels"):
        read_header(path)


def test_decoded_bytes_are_bounded_not_just_samples(settings, tmp_path):
    """Four float64 channels pass the sample limit (4 x pixels) but decode to 32 bytes a pixel."""
    path = tmp_path / "wide.tif"
    tifffile.imwrite(path, np.zeros((4, 100, 100), np.float64))
    settings.LABELSERVER = {**settings.LABELSERVER, "MAX_IMAGE_PIXELS": 100 * 100}
    with pytest.raises(ImageReadError, match="decodes to 320,000 bytes") as refused:
        read_header(path)
    assert refused.value.code == "image_too_large"
    tifffile.imwrite(path, np.zeros((4, 100, 100), np.uint16))  # 8 bytes a pixel: at the limit
    assert read_header(path).channels == 4


def test_a_tiff_of_several_images_is_refused_naming_the_count(tmp_path):
    path = tmp_path / "several.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(np.zeros((32, 32), np.uint8))
        tif.write(np.zeros((16, 16, 3), np.uint8))
        tif.write(np.zeros((8, 8), np.uint16))
    with pytest.raises(ImageReadError, match=r"3 separate images.*32x32, 16x16x3, 8x8") as refused:
        read_header(path)
    assert refused.value.code == "unsupported_image"
    with pytest.raises(MaskError, match="3 separate images"):
        read_label_image(path)


def test_a_plain_multi_page_tiff_is_still_one_image(tmp_path):
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tif:
        for value in (1, 2, 3):
            tif.write(np.full((16, 16), value, np.uint8), metadata=None)
    assert read_pixels(path)[0, 0].tolist() == [1, 2, 3]
