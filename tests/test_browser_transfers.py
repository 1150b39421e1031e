"""The Upload and Export pages in a real headless Chromium, with a REAL Celery worker process on the
`default` queue running their jobs (tests/worker.py; the embedded file broker, which the live
server in this process writes to): an uploaded image and its label image are ingested by a job
whose end the page shows, an annotation bundle is imported the same way, and an export is
refused for bad options, then written, listed and downloaded as a zip."""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile

import numpy as np
import pytest
from django.conf import settings
from PIL import Image as PILImage

from active_learning.models import Job, JobKind, JobStatus
from annotations.models import Annotation, Image
from tests.factories import U2OS, make_annotation, make_crops
from tests.test_browser_e2e import browser, drop, log_in, open_page, screenshot  # noqa: F401  (fixtures)
from tests.worker import start_worker, stop_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

JOB_TIMEOUT_MS = 90_000  # a worker under a loaded xdist run; the jobs themselves take a second or two


@pytest.fixture
def default_worker(transactional_db, tmp_path):
    """A worker on the `default` queue, as `make run` starts one for light work."""
    # Messages left by an earlier test would only name jobs that no longer exist; start clean.
    shutil.rmtree(settings.CELERY_BROKER_DIR, ignore_errors=True)
    for key in ("data_folder_in", "control_folder"):
        os.makedirs(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key], exist_ok=True)
    worker = start_worker(tmp_path / "worker.log", queues="default")
    yield worker
    stop_worker(worker)


def test_the_upload_page_ingests_an_image_with_its_label_image_and_imports_a_bundle(project, admin, open_page,  # noqa: F811
                                                                                  default_worker, tmp_path):
    source = sorted((U2OS / "images").glob("*.png"))[1]
    page = open_page()
    log_in(page, "ada", f"/projects/{project.pk}/upload/")
    drop(page, ".dropzone[data-role=images]", source)
    drop(page, ".dropzone[data-role=masks]", U2OS / "masks" / source.name)
    row = page.locator(f"#uploads tr[data-file='{source.name}']")
    assert source.name in row.inner_text().split("\t")[1]  # the label image was paired by name
    page.click("#upload-start")
    page.locator("#upload-message", has_text="1 image uploaded").wait_for(timeout=JOB_TIMEOUT_MS)

    job = Job.objects.get(pk=int(row.get_attribute("data-job")))
    assert (job.kind, job.status) == (JobKind.INGEST, JobStatus.SUCCEEDED)
    assert job.worker.startswith("test-")  # the worker process ran it, not the web request
    image = Image.objects.get(project=project)
    assert image.original_name == source.name and image.crops.count() > 0
    labelled = Annotation.objects.filter(crop__image=image).count()
    assert labelled > 0  # the label image came along
    assert f"added: {image.crops.count()} crops, {labelled} labelled from the label image" in row.inner_text()
    assert row.locator("progress").evaluate("bar => bar.value") == 1

    # A Cellpose bundle (an image beside its _masks file) made elsewhere: imported as labels.
    other = sorted((U2OS / "images").glob("*.png"))[2]
    bundle = tmp_path / "cellpose-bundle.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.write(other, other.name)
        archive.write(U2OS / "masks" / other.name, f"{other.stem}_masks.png")
    page.set_input_files("#import-form input[name=file]", bundle)
    page.select_option("#import-form select[name=format]", "cellpose")
    page.click("#import-form button[type=submit]")
    imported = page.locator("#imports tr[data-file='cellpose-bundle.zip'] td").nth(4)
    imported.get_by_text("1 image added").wait_for(timeout=JOB_TIMEOUT_MS)

    new = Image.objects.get(project=project, original_name=other.name)
    annotations = Annotation.objects.filter(crop__image=new, is_current=True).count()
    cells = len(np.unique(np.array(PILImage.open(U2OS / "masks" / other.name)))) - 1  # the label image's, not per crop
    assert imported.inner_text() == f"1 image added · {annotations} annotations · {cells} cells"
    assert Job.objects.get(kind=JobKind.IMPORT).result["images_created"] == 1
    screenshot(page, "upload.png", full_page=True)


def test_the_export_page_writes_an_export_in_the_worker_and_offers_its_zip(project, admin, open_page,  # noqa: F811
                                                                          default_worker):
    for crop in make_crops(project, 4, crop_size=128):
        make_annotation(crop, admin)
    page = open_page()
    log_in(page, "ada", f"/projects/{project.pk}/upload/")
    page.get_by_role("link", name="Export", exact=True).click()
    page.wait_for_url(f"**/projects/{project.pk}/export/")
    page.locator("#exports", has_text="No exports yet.").wait_for()

    # Refused options are shown beside the form, and nothing is queued.
    open_page.expected.append("the server responded with a status of 400")
    page.check("#export-form input[name=format][value=coco]")
    page.fill("#export-form input[name=since]", "2026-12-06")
    page.fill("#export-form input[name=until]", "2026-12-01")
    page.click("#export-form button[type=submit]")
    problem = page.locator("#export-form ul.problems")
    problem.wait_for()
    assert "is after until" in problem.inner_text()
    assert page.locator("#export-message").inner_text().startswith("Not started")
    assert not Job.objects.filter(kind=JobKind.EXPORT).exists()

    page.fill("#export-form input[name=since]", "")
    page.fill("#export-form input[name=until]", "")
    page.click("#export-form button[type=submit]")
    assert problem.count() == 0
    row = page.locator("#exports tr[data-status=succeeded]")
    row.wait_for(timeout=JOB_TIMEOUT_MS)
    page.locator("#export-message", has_text="is ready").wait_for()
    job = Job.objects.get(kind=JobKind.EXPORT)
    assert job.params["options"]["format"] == "cellpose,coco"
    assert "4 annotations" in row.inner_text() and "cellpose, coco" in row.inner_text()
    screenshot(page, "export.png", full_page=True)

    link = row.get_by_role("link", name="Download")
    assert link.get_attribute("href") == f"/api/jobs/{job.pk}/file/"
    answer = page.request.get(link.get_attribute("href"))
    assert answer.status == 200 and answer.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(answer.body())) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert "coco/annotations.json" in archive.namelist()
    assert manifest["counts"]["annotations"] == 4
