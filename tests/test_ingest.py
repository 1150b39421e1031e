"""Ingesting real images: stored once, tiled into crops with display PNGs, labels imported per
crop, duplicates recognised, and bad input leaving no rows and no files behind."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from annotations import ingest
from annotations.imaging import read_crop_pixels, read_image_pixels, tile_windows
from annotations.ingest import (
    ensure_labelled_validation,
    ingest_image,
    set_image_split,
    split_for_hash,
)
from annotations.masks import decode_png, relabel_sequential
from annotations.models import Annotation, Crop, Image, Split
from labelserver.errors import DomainError
from tests.factories import make_project

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _restore_pillow_guard(monkeypatch):
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", PILImage.MAX_IMAGE_PIXELS)


def media_files(settings) -> list[Path]:
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def pixels(path: Path) -> np.ndarray:
    return np.asarray(PILImage.open(path))


def real_stack(image: Path, mask: Path) -> np.ndarray:
    grey = pixels(image).astype(np.uint16) * 257
    return np.stack([grey, 65535 - grey, pixels(mask).astype(np.uint16)], axis=-1)


# --- Happy paths ----------------------------------------------------------------------------


def test_it_stores_the_original_once_under_its_hash_and_tiles_it(project, admin, u2os_pairs, settings):
    path, _ = u2os_pairs[0]
    result = ingest_image(project, path, original_name=path.name, user=admin)

    image = result.image
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.created and result.imported_annotations == 0
    assert (image.sha256, image.width, image.height, image.channels, image.dtype) == (sha, 696, 520, 1, "uint8")
    assert image.file.name == f"images/{sha[:2]}/{sha}.png"
    assert Path(image.file.path).read_bytes() == path.read_bytes()
    assert image.uploaded_by == admin and image.original_name == path.name
    assert image.split == split_for_hash(sha, project.validation_fraction)
    windows = tile_windows(696, 520, 256, 0)
    assert result.crops == len(windows) == image.crops.count() == 9
    assert {(c.x, c.y, c.width, c.height) for c in image.crops.all()} == set(windows)
    assert {c.split for c in image.crops.all()} == {image.split}
    assert {c.status for c in image.crops.all()} == {"unlabelled"}
    assert not list((Path(settings.MEDIA_ROOT) / ingest.STAGING_DIR).iterdir())


def test_each_crop_has_its_display_png_rendered_at_ingest(project, u2os_pairs, brightfield_pairs):
    grey = ingest_image(project, u2os_pairs[0][0], original_name="grey.png").image
    rgb = ingest_image(project, brightfield_pairs[0][0], original_name="rgb.png").image
    for image, mode in ((grey, "L"), (rgb, "RGB")):
        for crop in image.crops.all():
            sha = image.sha256
            assert crop.display.name == (
                f"crops/{project.pk}/{sha[:2]}/{sha}/{crop.x}_{crop.y}_{crop.width}x{crop.height}.png")
            with PILImage.open(crop.display.path) as shown:
                assert (shown.format, shown.mode, shown.size) == ("PNG", mode, (crop.width, crop.height))


def test_read_crop_pixels_returns_the_source_window(project, u2os_pairs, brightfield_pairs):
    for path in (u2os_pairs[1][0], brightfield_pairs[1][0]):
        image = ingest_image(project, path, original_name=path.name).image
        source = pixels(path).reshape(image.height, image.width, -1)
        assert np.array_equal(read_image_pixels(image), source)
        for crop in image.crops.all():
            assert np.array_equal(read_crop_pixels(crop), source[crop.y : crop.y + crop.height,
                                                                 crop.x : crop.x + crop.width])


@pytest.mark.parametrize("layout", ["zlib", "ome", "pages"])
def test_it_ingests_16_bit_multichannel_tiffs(project, u2os_pairs, tmp_path, layout):
    stack = real_stack(*u2os_pairs[2])
    path = tmp_path / "stack.tif"
    planar = np.moveaxis(stack, -1, 0)
    if layout == "zlib":
        tifffile.imwrite(path, stack, photometric="rgb", compression="zlib")
    elif layout == "ome":
        tifffile.imwrite(path, planar, ome=True, metadata={"axes": "CYX"})
    else:
        with tifffile.TiffWriter(path) as writer:
            for plane in planar:
                writer.write(plane, metadata=None)
    image = ingest_image(project, path, original_name="stack.ome.tif").image
    assert (image.channels, image.dtype, image.file.name[-4:]) == (3, "uint16", ".tif")
    for crop in image.crops.all():
        window = read_crop_pixels(crop)
        assert window.dtype == np.uint16
        assert np.array_equal(window, stack[crop.y : crop.y + crop.height, crop.x : crop.x + crop.width])
        assert PILImage.open(crop.display.path).mode == "RGB"


def test_overlapping_crops_follow_the_project_tiling(u2os_pairs):
    project = make_project("overlap", crop_size=200, crop_overlap=40)
    image = ingest_image(project, u2os_pairs[0][0], original_name="a.png").image
    assert sorted((c.x, c.y, c.width, c.height) for c in image.crops.all()) == sorted(
        tile_windows(696, 520, 200, 40))


def test_the_project_display_channels_choose_what_is_shown(u2os_pairs, tmp_path):
    project = make_project("channels", display_channels=[2])
    stack = real_stack(*u2os_pairs[0])
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, photometric="rgb")
    crop = ingest_image(project, path, original_name="stack.tif").image.crops.first()
    assert PILImage.open(crop.display.path).mode == "L"


# --- Labels ---------------------------------------------------------------------------------


def test_imported_labels_make_labelled_crops_with_their_own_masks(project, admin, u2os_pairs):
    path, mask_path = u2os_pairs[3]
    result = ingest_image(project, path, original_name=path.name, mask_source=mask_path, user=admin)

    labels = pixels(mask_path)
    assert result.imported_annotations == result.crops == 9
    for crop in result.image.crops.all():
        annotation = crop.annotations.get()
        expected = relabel_sequential(labels[crop.y : crop.y + crop.height, crop.x : crop.x + crop.width])
        assert crop.status == "labelled"
        assert (annotation.version, annotation.is_current, annotation.source) == (1, True, "import")
        assert annotation.author == admin
        assert np.array_equal(decode_png(annotation.mask_png), expected)
        assert annotation.n_cells == len(np.unique(expected)) - (0 in expected)


def test_an_empty_crop_is_a_labelled_crop_with_no_cells(u2os_pairs):
    project = make_project("sparse", crop_size=64)
    path, mask_path = next((p, m) for p, m in u2os_pairs if p.stem == "0b0d577159f0")  # 7 nuclei
    image = ingest_image(project, path, original_name=path.name, mask_source=mask_path).image
    empty = Crop.objects.filter(image=image, annotations__n_cells=0)
    assert empty.exists() and Crop.objects.filter(image=image, annotations__n_cells__gt=0).exists()
    assert set(empty.values_list("status", flat=True)) == {"labelled"}
    assert not decode_png(empty.first().annotations.get().mask_png).any()


def test_labels_may_come_as_a_uint16_tiff_or_an_upload(project, u2os_pairs, tmp_path):
    (first, first_mask), (second, second_mask) = u2os_pairs[4:6]
    tiff = tmp_path / "labels.tif"
    tifffile.imwrite(tiff, pixels(first_mask))
    assert ingest_image(project, first, original_name="a.png", mask_source=tiff).imported_annotations == 9
    upload = SimpleUploadedFile("b_masks.png", second_mask.read_bytes())
    assert ingest_image(project, second, original_name="b.png", mask_source=upload).imported_annotations == 9


# --- Duplicates -----------------------------------------------------------------------------


def test_the_same_file_twice_is_not_duplicated(project, u2os_pairs, settings):
    path, mask_path = u2os_pairs[0]
    first = ingest_image(project, path, original_name="first.png")
    files = media_files(settings)
    again = [
        ingest_image(project, path, original_name="again.png", mask_source=mask_path),
        ingest_image(project, io.BytesIO(path.read_bytes()), original_name="bytes.png"),
        ingest_image(project, SimpleUploadedFile("upload.png", path.read_bytes()), original_name="upload.png"),
    ]
    for result in again:
        assert (result.created, result.image.pk, result.crops, result.imported_annotations) == (
            False, first.image.pk, 9, 0)
    assert (Image.objects.count(), Crop.objects.count(), Annotation.objects.count()) == (1, 9, 0)
    assert media_files(settings) == files


def test_another_project_gets_its_own_image_and_crops_but_shares_the_original(project, other_project, u2os_pairs):
    path, _ = u2os_pairs[0]
    mine = ingest_image(project, path, original_name="a.png").image
    theirs = ingest_image(other_project, path, original_name="a.png").image
    assert mine.pk != theirs.pk and mine.file.name == theirs.file.name
    assert theirs.crops.count() == 9
    assert not set(mine.crops.values_list("display", flat=True)) & set(theirs.crops.values_list("display", flat=True))


# --- Bad input leaves nothing behind --------------------------------------------------------


def bad_input(case: str, folder: Path, pairs: list[tuple[Path, Path]]) -> tuple[Path, Path | None]:
    """(image, label image) for one kind of bad upload, made from the real shipped files."""
    image, mask = pairs[0]
    data = image.read_bytes()
    path = folder / f"{case}.bin"
    if case == "corrupt":
        path.write_bytes(data[:2000] + bytes(2000) + data[4000:])
    elif case == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif case == "text":
        path.write_bytes(b"id,height,width\n1,520,696\n")
    elif case == "gif":
        PILImage.open(image).save(path, format="GIF")
    elif case == "zstack":
        tifffile.imwrite(path, np.stack([pixels(image)] * 3), ome=True, metadata={"axes": "ZYX"})
    else:
        path = image
    labels = pixels(mask).astype(np.int32)
    label_path = folder / f"{case}_masks.tif"
    if case == "mask_shape":
        tifffile.imwrite(label_path, labels[:256, :256].astype(np.uint16))
    elif case == "mask_negative":
        labels[0, 0] = -1
        tifffile.imwrite(label_path, labels)
    elif case == "mask_float":
        tifffile.imwrite(label_path, labels.astype(np.float32) + 0.5)
    elif case == "mask_rgb":
        label_path = folder / "rgb_masks.png"  # colour: not a label image
        PILImage.fromarray(np.stack([labels % 256] * 3, axis=-1).astype(np.uint8)).save(label_path)
    else:
        label_path = mask
    return path, label_path


BAD_CASES = {
    "corrupt": "corrupt", "truncated": "truncated", "text": "not a PNG, JPEG or TIFF", "gif": "GIF",
    "zstack": "z-stack", "too_big": "over the limit", "mask_shape": "width x height", "mask_negative": "negative",
    "mask_float": "non-integer", "mask_rgb": "one channel",
}


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_refused_and_leaves_no_rows_and_no_files(case, project, u2os_pairs, tmp_path, settings):
    if case == "too_big":
        settings.LABELSERVER = {**settings.LABELSERVER, "MAX_IMAGE_PIXELS": 10_000}
    path, mask = bad_input(case, tmp_path, u2os_pairs)
    with pytest.raises(DomainError, match=BAD_CASES[case]) as caught:
        ingest_image(project, path, original_name=f"{case}.png", mask_source=mask)
    assert caught.value.http_status == 400
    assert (Image.objects.count(), Crop.objects.count(), Annotation.objects.count()) == (0, 0, 0)
    assert media_files(settings) == []


def test_a_failure_after_files_were_written_removes_them(project, u2os_pairs, settings, monkeypatch):
    def fail(*args, **kwargs):
        raise DomainError("the database refused the annotations")

    monkeypatch.setattr(ingest, "_create_annotations", fail)
    path, mask = u2os_pairs[0]
    with pytest.raises(DomainError, match="refused"):
        ingest_image(project, path, original_name=path.name, mask_source=mask)
    assert (Image.objects.count(), Crop.objects.count()) == (0, 0)
    assert media_files(settings) == []
    assert [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_dir()] == [
        Path(settings.MEDIA_ROOT) / ingest.STAGING_DIR]


def test_a_failed_ingest_keeps_an_original_another_project_uses(project, other_project, u2os_pairs, tmp_path):
    path, mask = u2os_pairs[0]
    kept = ingest_image(other_project, path, original_name="a.png").image
    bad_mask, _ = bad_input("mask_shape", tmp_path, u2os_pairs)[1], None
    with pytest.raises(DomainError):
        ingest_image(project, path, original_name="a.png", mask_source=bad_mask)
    assert Path(kept.file.path).read_bytes() == path.read_bytes()


# --- Splits ---------------------------------------------------------------------------------


def test_the_split_follows_the_hash_and_the_validation_fraction(u2os_pairs):
    everything = make_project("all validation", validation_fraction=1.0)
    nothing = make_project("no validation", validation_fraction=0.0)
    for path, _ in u2os_pairs[:3]:
        assert ingest_image(everything, path, original_name=path.name).image.split == Split.VALIDATION
        assert ingest_image(nothing, path, original_name=path.name).image.split == Split.TRAIN
    assert set(Crop.objects.filter(project=everything).values_list("split", flat=True)) == {Split.VALIDATION}
    sha = "0" * 64
    assert split_for_hash(sha, 0.2) == Split.VALIDATION and split_for_hash("f" * 64, 0.2) == Split.TRAIN


def test_it_moves_one_labelled_image_to_validation_when_validation_has_none(u2os_pairs):
    project = make_project("no validation", validation_fraction=0.0)
    assert ensure_labelled_validation(project) is None
    images = [ingest_image(project, p, original_name=p.name, mask_source=m).image for p, m in u2os_pairs[:3]]
    ingest_image(project, u2os_pairs[3][0], original_name="unlabelled.png")

    moved = ensure_labelled_validation(project)

    assert moved in images
    assert set(Crop.objects.filter(image=moved).values_list("split", flat=True)) == {Split.VALIDATION}
    assert Image.objects.filter(project=project, split=Split.VALIDATION).count() == 1
    assert ensure_labelled_validation(project) is None


def test_set_image_split_moves_the_crops_too(project, u2os_pairs):
    image = ingest_image(project, u2os_pairs[0][0], original_name="a.png").image
    assert set_image_split(image, Split.VALIDATION) == 9
    image.refresh_from_db()
    assert image.split == Split.VALIDATION
    assert set(image.crops.values_list("split", flat=True)) == {Split.VALIDATION}
    with pytest.raises(DomainError, match="split must be"):
        set_image_split(image, "test")
