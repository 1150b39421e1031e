"""Export and import through the database, the API and the commands, with real shipped images.

Round trips: label images imported into a project, exported in each format and imported into
a second project give back the same label images, per crop and per stitched image.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import tifffile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone
from PIL import Image as PILImage
from pycocotools.coco import COCO

from active_learning import transfers
from active_learning.model_transfer import export_zip, import_bundle
from active_learning.models import Job, JobStatus, ModelVersion, Prediction
from annotations.api.export_serializers import OptionsError, export_options, import_options
from annotations.exports import ExportOptions, build_export
from annotations.formats.stitching import Piece, stitch
from annotations.imports import ImportMode, ImportOptions, import_annotations
from annotations.masks import decode_png, encode_png
from annotations.models import Annotation, Crop, CropStatus, Image, Tag
from labelserver.errors import DomainError
from tests.conftest import DATA
from tests.factories import make_project, run_queued

BRIGHTFIELD = DATA / "dsb2018_brightfield"  # 4 RGB images of 256x320: two overlapping 256-px crops each
U2OS_NAMES = ("0b0d577159f0", "10ba6cbee487")  # 520x696 grey nuclei


# --- helpers ----------------------------------------------------------------------------------


def same_cells(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = np.unique((a.astype(np.int64) << 32) | b.astype(np.int64))
    return len(pairs) == len(np.unique(pairs >> 32)) == len(np.unique(pairs & 0xFFFFFFFF))


def original_mask(folder: Path, image_name: str) -> np.ndarray:
    return np.array(PILImage.open(folder / "masks" / image_name)).astype(np.uint32)


def current_labels(image: Image) -> np.ndarray:
    annotations = Annotation.objects.filter(crop__image=image, is_current=True).select_related("crop")
    pieces = [Piece((a.crop.x, a.crop.y, a.crop.width, a.crop.height), decode_png(a.mask_png))
              for a in annotations.order_by("created_at", "id")]
    return stitch((image.height, image.width), pieces).labels


def crop_masks(project) -> dict[tuple[str, int, int], np.ndarray]:
    annotations = Annotation.objects.filter(crop__project=project, is_current=True).select_related("crop__image")
    return {(a.crop.image.original_name, a.crop.x, a.crop.y): decode_png(a.mask_png) for a in annotations}


def import_folder(project, folder: Path, fmt: str = "tiff", **options):
    return import_bundle(project, folder, ImportOptions(format=fmt, **options))


def export(project, tmp_path: Path, name: str = "export.zip", **params) -> tuple[Path, dict]:
    target = tmp_path / name
    manifest = export_zip(project, export_options(params), target)
    return target, manifest


def u2os_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "u2os"
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True)
        for name in U2OS_NAMES:
            shutil.copy(DATA / "dsb2018_u2os" / sub / f"{name}.png", folder / sub / f"{name}.png")
    return folder


def media_files(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def labelled(db):
    """A project holding the four brightfield images with their label images (8 crops)."""
    project = make_project("source", crop_size=256, validation_fraction=0.0)
    report = import_folder(project, BRIGHTFIELD)
    assert report.images_created == 4 and report.annotations == 8
    return project


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["cellpose", "tiff", "coco", "geojson"])
def test_import_export_import_gives_identical_label_images(labelled, tmp_path, fmt):
    zip_path, manifest = export(labelled, tmp_path, format=fmt)
    assert manifest["counts"]["whole_images"] == 4
    copy = make_project("copy", crop_size=256, validation_fraction=0.0)
    report = import_annotations(copy, zip_path, ImportOptions(format=fmt))
    assert report.images_created == 4 and report.annotations == 8
    assert crop_masks(copy).keys() == crop_masks(labelled).keys()
    for key, mask in crop_masks(labelled).items():
        assert np.array_equal(crop_masks(copy)[key], mask), key
    for image in Image.objects.filter(project=copy):
        assert same_cells(current_labels(image), original_mask(BRIGHTFIELD, image.original_name))


def test_a_round_trip_through_smaller_crops_keeps_cells_cut_by_crop_borders(tmp_path, db):
    project = make_project("u2os", crop_size=160, crop_overlap=0, validation_fraction=0.0)
    import_folder(project, u2os_folder(tmp_path))
    zip_path, manifest = export(project, tmp_path, format="tiff")
    with zipfile.ZipFile(zip_path) as archive:
        for name in U2OS_NAMES:
            labels = np.array(PILImage.open(io.BytesIO(archive.read(f"tiff/masks/{name}.tif"))))
            assert same_cells(labels, original_mask(tmp_path / "u2os", f"{name}.png"))
            assert labels.max() == len(np.unique(original_mask(tmp_path / "u2os", f"{name}.png"))) - 1
    assert manifest["counts"]["annotations"] == 2 * 20  # 4 x 5 crops per 520x696 image


def test_a_coco_export_loads_in_pycocotools(labelled, tmp_path):
    zip_path, _ = export(labelled, tmp_path, format="coco")
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(tmp_path / "unzipped")
    dataset = COCO(str(tmp_path / "unzipped" / "coco" / "annotations.json"))
    assert len(dataset.getImgIds()) == 4
    for entry in dataset.loadImgs(dataset.getImgIds()):
        assert (tmp_path / "unzipped" / "coco" / "images" / entry["file_name"]).is_file()
        truth = original_mask(BRIGHTFIELD, entry["file_name"])
        assert (entry["height"], entry["width"]) == truth.shape
        annotations = dataset.loadAnns(dataset.getAnnIds(imgIds=[entry["id"]]))
        assert len(annotations) == len(np.unique(truth)) - 1
        painted = np.zeros(truth.shape, np.uint32)
        for index, annotation in enumerate(annotations, start=1):
            painted[dataset.annToMask(annotation).astype(bool)] = index
        assert same_cells(painted, truth)


def test_geojson_features_are_qupath_objects(labelled, tmp_path):
    zip_path, _ = export(labelled, tmp_path, format="geojson", object_type="annotation", tolerance="0.5")
    with zipfile.ZipFile(zip_path) as archive:
        names = [n for n in archive.namelist() if n.endswith(".geojson")]
        collection = json.loads(archive.read(names[0]))
    assert len(names) == 4 and collection["type"] == "FeatureCollection"
    feature = collection["features"][0]
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert feature["properties"]["objectType"] == "annotation"
    assert feature["properties"]["classification"]["name"] == "Cell"


# --- what an export contains ------------------------------------------------------------------


def test_export_reports_progress_per_image(labelled, tmp_path):
    calls = []
    build_export(labelled, export_options({"format": "tiff"}), tmp_path / "e.zip",
                 progress=lambda done, total, what: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_the_manifest_states_versions_filters_and_files(labelled, tmp_path):
    crop = Crop.objects.filter(project=labelled).order_by("id").first()
    previous = Annotation.objects.get(crop=crop, is_current=True)
    Annotation.objects.filter(pk=previous.pk).update(is_current=False)
    newer = Annotation.objects.create(crop=crop, version=2, mask_png=previous.mask_png, n_cells=previous.n_cells,
                                      source="editor")
    zip_path, manifest = export(labelled, tmp_path, format="cellpose,tiff", reviewed="true", whole_images="any")
    assert [(a["id"], a["version"], a["source"]) for a in manifest["annotations"]] == [(newer.pk, 2, "editor")]
    assert manifest["options"]["filters"]["sources"] == ["editor"]
    assert manifest["options"]["formats"] == ["cellpose", "tiff"]
    assert manifest["model_version"] is None
    (image,) = manifest["images"]
    assert image["crops"] == 1 and 0 < image["coverage"] < 1 and image["whole_image_written"]
    with zipfile.ZipFile(zip_path) as archive:
        assert set(manifest["files"]) | {"manifest.json"} == set(archive.namelist())
        assert json.loads(archive.read("manifest.json"))["annotations"] == manifest["annotations"]
    assert any(f.startswith("cellpose/crops/") and f.endswith("_x0_y0_masks.tif") for f in manifest["files"])


def test_partly_labelled_images_are_written_whole_only_when_asked(labelled, tmp_path):
    crop = Crop.objects.filter(project=labelled).order_by("id").first()
    Annotation.objects.filter(crop=crop).delete()
    _, manifest = export(labelled, tmp_path, format="tiff")
    assert manifest["counts"]["whole_images"] == 3
    assert manifest["counts"]["partial_images_not_written_whole"] == [Path(crop.image.original_name).stem]
    _, manifest = export(labelled, tmp_path, "any.zip", format="tiff", whole_images="any")
    assert manifest["counts"]["whole_images"] == 4


def test_filters_choose_split_tag_dates_and_versions(labelled, tmp_path):
    crops = list(Crop.objects.filter(project=labelled).order_by("id"))
    Image.objects.filter(pk=crops[0].image_id).update(split="validation")
    Crop.objects.filter(image_id=crops[0].image_id).update(split="validation")
    Tag.objects.create(project=labelled, name="hard").crops.add(crops[2])
    old = timezone.now() - timedelta(days=10)
    Annotation.objects.filter(crop=crops[3]).update(created_at=old)
    first = Annotation.objects.get(crop=crops[3])
    Annotation.objects.filter(pk=first.pk).update(is_current=False)
    Annotation.objects.create(crop=crops[3], version=2, mask_png=encode_png(np.zeros((256, 256), np.uint16)),
                              n_cells=0, source="editor")

    def chosen(**params) -> list[tuple[int, int]]:
        _, manifest = export(labelled, tmp_path, format="tiff", whole_images="any", **params)
        return sorted((a["crop_id"], a["version"]) for a in manifest["annotations"])

    validation = set(Crop.objects.filter(project=labelled, split="validation").values_list("id", flat=True))
    assert {c for c, _ in chosen(split="validation")} == validation
    assert {c for c, _ in chosen(split="train")}.isdisjoint(validation)
    assert chosen(tag="hard") == [(crops[2].pk, 1)]
    assert (crops[3].pk, 2) in chosen() and (crops[3].pk, 1) not in chosen()
    until = (old + timedelta(days=1)).date().isoformat()
    assert chosen(until=until) == []  # the old version is not current
    assert chosen(until=until, current_only="false") == [(crops[3].pk, 1)]  # the project as it was then
    assert (crops[3].pk, 1) not in chosen(since=(old + timedelta(days=1)).isoformat())


@pytest.mark.parametrize(
    "params,message",
    [
        ({"format": "vtk"}, "unknown export format 'vtk'"),
        ({}, "name at least one format"),
        ({"format": "coco", "split": "test"}, "split must be one of"),
        ({"format": "coco", "since": "yesterday"}, "since must be a date"),
        ({"format": "coco", "since": "2025-03-02", "until": "2025-03-01"}, "is after until"),
        ({"format": "coco", "current_only": "maybe"}, "current_only must be true or false"),
        ({"format": "coco", "reviewed": "true", "source": "import"}, "reviewed=true takes annotations of source"),
        ({"format": "coco", "tolerance": "12"}, "tolerance must lie between 0 and 10 pixels, got 12"),
        ({"format": "coco", "images": "maybe"}, "images must be true or false"),
        ({"format": "coco", "whole_images": "some"}, "whole_images must be one of complete, any, got 'some'"),
        ({"model": "latest"}, "model must be 'active' or a version number, got 'latest'"),
        ({"model": "active"}, "no active model version"),
        ({"model": "7"}, "no model version 7"),
    ],
)
def test_bad_export_options_are_refused_by_name(labelled, tmp_path, params, message):
    with pytest.raises(DomainError, match=message):
        export(labelled, tmp_path, **params)


def test_export_options_keep_their_defaults_aliases_and_per_field_errors():
    options = export_options({"formats": "COCO, tiff,coco", "image_format": ".png", "images": "", "tolerance": ""})
    assert options == ExportOptions(formats=("coco", "tiff"), image_extension=".png")
    with pytest.raises(OptionsError) as refused:
        export_options({"format": "vtk", "split": "test", "since": "yesterday"})
    assert refused.value.code == "bad_export" and set(refused.value.fields) == {"format", "split", "since"}
    with pytest.raises(OptionsError) as refused:
        export_options({"format": "coco", "current_only": "maybe"})
    assert refused.value.code == "bad_filter"


def test_the_labelling_side_alone_does_not_drop_a_requested_model(labelled, tmp_path):
    with pytest.raises(ValueError, match="go together"):
        build_export(labelled, export_options({"model": "active"}), tmp_path / "e.zip")
    with pytest.raises(ValueError, match="go together"):
        import_annotations(labelled, BRIGHTFIELD, ImportOptions(format="tiff", mode=ImportMode.PREDICTIONS))


# --- imports ----------------------------------------------------------------------------------


def test_labels_for_images_already_in_the_project_add_versions(labelled, tmp_path):
    folder = tmp_path / "masks_only"
    folder.mkdir()
    name = "00ae65c1c663"
    shutil.copy(BRIGHTFIELD / "masks" / f"{name}.png", folder / f"{name}_masks.png")
    report = import_folder(labelled, folder, "cellpose")
    assert report.images_existing == 1 and report.images_created == 0 and report.annotations == 2
    image = Image.objects.get(project=labelled, original_name=f"{name}.png")
    assert sorted(Annotation.objects.filter(crop__image=image, is_current=True).values_list("version", flat=True)) \
        == [2, 2]


def test_predictions_are_imported_as_a_model_version_to_correct(tmp_path, db):
    project = make_project("predicted", crop_size=256)
    report = import_folder(project, BRIGHTFIELD, mode=ImportMode.PREDICTIONS)
    version = ModelVersion.objects.get(project=project)
    assert report.model_version == version.number and version.origin == "import" and not version.weights
    assert report.predictions == 8 == Prediction.objects.filter(model_version=version).count()
    assert not Annotation.objects.filter(crop__project=project).exists()
    assert set(Crop.objects.filter(project=project).values_list("status", flat=True)) == {CropStatus.UNLABELLED}


def test_a_geojson_file_alone_labels_a_project_image(labelled, tmp_path):
    zip_path, _ = export(labelled, tmp_path, format="geojson")
    with zipfile.ZipFile(zip_path) as archive:
        (tmp_path / "00ae65c1c663.geojson").write_bytes(archive.read("geojson/00ae65c1c663.geojson"))
    options = import_options({"format": "geojson"})
    report = import_annotations(labelled, tmp_path / "00ae65c1c663.geojson", options)
    assert report.images_existing == 1 and report.annotations == 2 and report.contested_pixels == 0


def _bundle(tmp_path: Path, files: dict[str, bytes]) -> Path:
    target = tmp_path / "bundle.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return target


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


IMAGE_BYTES = (BRIGHTFIELD / "images" / "00ae65c1c663.png").read_bytes()
OTHER_IMAGE_BYTES = (BRIGHTFIELD / "images" / "0121d6759c5a.png").read_bytes()
MASK = np.array(PILImage.open(BRIGHTFIELD / "masks" / "00ae65c1c663.png"))
SQUARE = [[10, 10], [60, 10], [60, 60], [10, 60], [10, 10]]


def _tiff(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array)
    return buffer.getvalue()


def _feature(ring: list) -> dict:
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": {}}


BAD_BUNDLES = [
    ("tiff", {"masks/ghost.png": _png(MASK)}, "ghost.png: unknown image reference 'ghost'"),
    ("cellpose", {"a.png": IMAGE_BYTES, "a_masks.png": _png(MASK[:100])},
     r"a_masks.png: the label image is 320x100 \(width x height\) but its image is 320x256"),
    ("cellpose", {"a.png": IMAGE_BYTES}, "a.png: no label image found"),
    ("cellpose", {"a.png": IMAGE_BYTES, "a_masks.png": _png(MASK.astype(np.uint8) * 0 + 1)[:60]},
     "a_masks.png: (not a readable PNG: )?the file is truncated or corrupt"),
    ("coco", {"c.json": json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 300, "height": 256}],
                                    "annotations": []}).encode(), "a.png": IMAGE_BYTES},
     r"c.json: image 'a.png' is 300x256 in the file but 320x256 in fact"),
    ("coco", {"c.json": json.dumps({"images": [{"id": 1, "file_name": "zz.png", "width": 320, "height": 256}],
                                    "annotations": []}).encode()}, "c.json: unknown image reference 'zz.png'"),
    ("geojson", {"a.geojson": json.dumps({"type": "FeatureCollection", "features": [_feature(SQUARE)] * 2}).encode(),
                 "a.png": IMAGE_BYTES}, "a.geojson: feature 1 and feature 2 overlap"),
    ("geojson", {"a.geojson": b"{", "a.png": IMAGE_BYTES}, "a.geojson: not a readable GeoJSON file"),
    ("tiff", {"images/a.png": IMAGE_BYTES, "masks/a.tif": _tiff(np.full(MASK.shape, -1, np.int16))},
     "a.tif: the label image has negative ids"),
]


@pytest.mark.parametrize("fmt,files,message", BAD_BUNDLES, ids=[m[:30] for _, _, m in BAD_BUNDLES])
def test_bad_input_is_refused_naming_the_file_and_nothing_is_kept(tmp_path, settings, db, fmt, files, message):
    project = make_project("clean", crop_size=256)
    options = import_options({"format": fmt, "overlap": "reject"})
    with pytest.raises(DomainError, match=message):
        import_annotations(project, _bundle(tmp_path, files), options)
    assert not Image.objects.exists() and not Annotation.objects.exists() and not ModelVersion.objects.exists()
    assert not [f for f in media_files(settings) if not f.startswith(".staging")]


def test_a_failure_after_images_were_stored_rolls_everything_back(tmp_path, settings, db):
    """The first image is ingested, then the second file's polygon turns out to lie outside its image."""
    project = make_project("clean", crop_size=256)
    good = {"type": "FeatureCollection", "features": [_feature(SQUARE)]}
    far = {"type": "FeatureCollection", "features": [_feature([[900, 900], [950, 900], [950, 950], [900, 900]])]}
    files = {"a.geojson": json.dumps(good).encode(), "a.png": IMAGE_BYTES,
             "b.geojson": json.dumps(far).encode(), "b.png": OTHER_IMAGE_BYTES}
    with pytest.raises(DomainError, match="b.geojson: feature 1 lies outside the 320x256 image"):
        import_annotations(project, _bundle(tmp_path, files), import_options({"format": "geojson"}))
    assert not Image.objects.exists() and not Crop.objects.exists() and not Annotation.objects.exists()
    assert not [f for f in media_files(settings) if not f.startswith(".staging")]


def test_unsafe_zip_paths_are_refused(tmp_path, db):
    project = make_project("clean")
    with pytest.raises(DomainError, match="unsafe path '../evil.png'"):
        import_annotations(project, _bundle(tmp_path, {"../evil.png": b"x"}), import_options({"format": "tiff"}))


@pytest.mark.parametrize(
    "params,message",
    [({}, "format must be one of"), ({"format": "coco", "mode": "guess"}, "mode must be one of"),
     ({"format": "coco", "overlap": "merge"}, "overlap must be one of")],
)
def test_bad_import_options_are_refused_by_name(params, message):
    with pytest.raises(DomainError, match=message):
        import_options(params)


def test_import_options_take_any_case_and_default_the_rest():
    assert import_options({"format": " COCO ", "mode": "Predictions", "object_type": " "}) == ImportOptions(
        format="coco", mode=ImportMode.PREDICTIONS)


# --- API --------------------------------------------------------------------------------------


def test_admins_export_in_the_background_and_download_the_zip(labelled, admin, admin_client):
    from annotations.models import Membership

    Membership.objects.create(project=labelled, user=admin, role="admin")
    answer = admin_client.post(f"/api/projects/{labelled.pk}/export/", {"format": "coco", "split": "train"},
                               format="json")
    assert (answer.json()["kind"], answer.json()["status"]) == ("export", "queued")
    job = run_queued(answer)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["download"] == f"/api/jobs/{job.pk}/file/" and job.result["size"] > 0
    assert job.result["counts"]["annotations"] > 0 and job.progress["stage"] == "storing"
    listed = admin_client.get(f"/api/projects/{labelled.pk}/jobs/?kind=export").json()
    assert [row["id"] for row in listed] == [job.pk]

    response = admin_client.get(job.result["download"])
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="source-export-')
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None and "coco/annotations.json" in archive.namelist()
    assert json.loads(archive.read("manifest.json"))["options"]["filters"]["split"] == "train"


def test_an_export_is_deleted_once_it_expires(labelled, admin, admin_client, settings):
    from annotations.models import Membership

    Membership.objects.create(project=labelled, user=admin, role="admin")
    job = run_queued(admin_client.post(f"/api/projects/{labelled.pk}/export/", {"format": "tiff"}, format="json"))
    assert transfers.delete_expired_exports() == 0  # still within EXPORT_KEEP_HOURS
    Job.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(hours=7 * 24 + 1))
    assert transfers.delete_expired_exports() == 1
    assert not default_storage.exists(job.result["file"])
    assert admin_client.get(f"/api/jobs/{job.pk}/file/").status_code == 404
    assert transfers.delete_expired_exports() == 0


def test_export_answers_by_role_and_checks_the_options_before_queueing(project, admin_client, labeller_client,
                                                                     outsider_client, anon_client):
    url = f"/api/projects/{project.pk}/export/"
    assert admin_client.post(url, {"format": "tiff"}, format="json").status_code == 202
    assert labeller_client.post(url, {"format": "tiff"}, format="json").status_code == 403
    assert outsider_client.post(url, {"format": "tiff"}, format="json").status_code == 404
    assert anon_client.post(url, {"format": "tiff"}, format="json").status_code in (401, 403)
    bad = admin_client.post(url, {"format": "vtk"}, format="json")
    assert bad.status_code == 400 and "unknown export format" in bad.json()["detail"]
    assert bad.json()["code"] == "bad_export" and list(bad.json()["fields"]) == ["format"]
    assert Job.objects.filter(project=project).count() == 1
    assert admin_client.get(url).status_code == 405  # an export is a job: POST, then its file


def test_an_export_of_a_missing_model_version_fails_with_the_reason(project, admin_client):
    job = run_queued(admin_client.post(f"/api/projects/{project.pk}/export/", {"model": "7"}, format="json"))
    assert job.status == JobStatus.FAILED and "no model version 7" in job.error
    assert admin_client.get(f"/api/jobs/{job.pk}/file/").status_code == 404


def test_admins_import_a_bundle_and_labellers_may_not(project, admin_client, labeller_client, tmp_path):
    files = {"images/a.png": IMAGE_BYTES, "masks/a.png": _png(MASK)}
    bundle = _bundle(tmp_path, files)
    url = f"/api/projects/{project.pk}/import/"
    with open(bundle, "rb") as handle:
        assert labeller_client.post(url, {"file": handle, "format": "tiff"}).status_code == 403
    with open(bundle, "rb") as handle:
        job = run_queued(admin_client.post(url, {"file": handle, "format": "tiff"}))
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["annotations"] == Annotation.objects.filter(crop__project=project).count() > 0
    with open(bundle, "rb") as handle:
        assert admin_client.post(url, {"file": handle, "format": "vtk"}).status_code == 400
    with open(bundle, "rb") as handle:
        bad = run_queued(admin_client.post(url, {"file": handle, "format": "coco"}))
    assert bad.status == JobStatus.FAILED and "exactly one .json file" in bad.error
    assert not default_storage.exists("uploads")  # each staged bundle went when its job ended


# --- commands ---------------------------------------------------------------------------------


def test_the_commands_export_and_import(labelled, tmp_path, db):
    target = tmp_path / "out.zip"
    out = io.StringIO()
    call_command("export_project", "source", str(target), "--format", "coco,geojson", stdout=out, stderr=io.StringIO())
    assert "8 annotations of 4 image(s), 4 whole" in out.getvalue()
    make_project("copy", crop_size=256)
    out = io.StringIO()
    call_command("import_annotations", "copy", str(target), "--format", "coco", stdout=out, stderr=io.StringIO())
    assert "Imported 4 new and 0 existing image(s) into 'copy': 8 annotations" in out.getvalue()


def test_the_commands_refuse_options_as_the_api_does_and_import_predictions(labelled, tmp_path, db):
    with pytest.raises(CommandError, match="unknown export format 'vtk'"):
        call_command("export_project", "source", str(tmp_path / "x.zip"), "--format", "vtk", stderr=io.StringIO())
    assert not (tmp_path / "x.zip").exists()
    make_project("predicted", crop_size=256)
    out = io.StringIO()
    call_command("import_annotations", "predicted", str(BRIGHTFIELD), "--format", "tiff", "--mode", "predictions",
                 stdout=out, stderr=io.StringIO())
    assert "0 annotations, 8 predictions" in out.getvalue() and "(model version 1)" in out.getvalue()
