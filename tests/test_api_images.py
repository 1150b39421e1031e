"""/api/projects/{id}/images/ (list; an upload queues its ingestion, run here as a worker runs it)
and /api/images/{id}/ (detail, split)."""

from __future__ import annotations

from datetime import timedelta

from django.core.files.storage import default_storage
from django.utils import timezone

from active_learning import jobs
from active_learning.models import Job, JobStatus
from annotations.models import Annotation, Crop, CropStatus, Image, Split
from tests.conftest import DATA
from tests.factories import make_image, run_queued

U2OS_IMAGE = sorted((DATA / "dsb2018_u2os" / "images").glob("*.png"))[0]
U2OS_MASK = DATA / "dsb2018_u2os" / "masks" / U2OS_IMAGE.name


def test_it_lists_a_projects_images_with_crop_counts(labeller_client, project):
    image = make_image(project, crop_size=256)
    body = labeller_client.get(f"/api/projects/{project.id}/images/").json()
    assert body["count"] == 1
    row = body["results"][0]
    assert (row["id"], row["width"], row["height"], row["n_crops"], row["n_labelled"]) == (image.id, 696, 520, 9, 0)


def test_it_shows_an_image(labeller_client, image):
    body = labeller_client.get(f"/api/images/{image.id}/").json()
    assert (body["original_name"], body["split"], body["n_crops"]) == (image.original_name, "train", 30)


def test_it_moves_an_image_and_its_crops_to_validation(admin_client, image):
    response = admin_client.patch(f"/api/images/{image.id}/", {"split": "validation"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["split"] == "validation"
    assert set(Crop.objects.filter(image=image).values_list("split", flat=True)) == {Split.VALIDATION}


def test_it_refuses_an_unknown_split(admin_client, image):
    response = admin_client.patch(f"/api/images/{image.id}/", {"split": "test"}, format="json")
    assert response.status_code == 400
    assert "split" in response.json()


def staged_uploads() -> list[str]:
    return default_storage.listdir("uploads")[0] if default_storage.exists("uploads") else []


def upload(client, project, path, mask=None):
    with open(path, "rb") as file:
        body = {"file": file}
        if mask is None:
            return client.post(f"/api/projects/{project.id}/images/", body)
        with open(mask, "rb") as mask_file:
            return client.post(f"/api/projects/{project.id}/images/", {**body, "mask": mask_file})


def test_it_uploads_an_image_once(admin_client, project):
    answer = upload(admin_client, project, U2OS_IMAGE)
    assert (answer.json()["kind"], answer.json()["status"]) == ("ingest", "queued")
    assert not Image.objects.exists()  # the request only stored the upload
    job = run_queued(answer)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["created"] is True and job.result["crops"] == Crop.objects.filter(project=project).count() > 1
    image = Image.objects.get(pk=job.result["image"])
    assert (image.width, image.height, image.original_name) == (696, 520, U2OS_IMAGE.name)
    assert admin_client.get(f"/api/jobs/{job.pk}/").json()["result"] == job.result

    again = run_queued(upload(admin_client, project, U2OS_IMAGE))
    assert (again.status, again.result["created"], again.result["image"]) == (JobStatus.SUCCEEDED, False, image.pk)
    assert Image.objects.count() == 1
    assert not staged_uploads()  # both staged uploads are gone


def test_it_imports_a_label_image_with_the_upload(admin_client, project):
    job = run_queued(upload(admin_client, project, U2OS_IMAGE, mask=U2OS_MASK))
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["imported_annotations"] == job.result["crops"] > 0
    assert Annotation.objects.filter(crop__project=project).exists()
    assert Crop.objects.filter(project=project, status=CropStatus.LABELLED).exists()


def test_it_refuses_a_file_that_is_not_an_image_before_queueing(admin_client, project, tmp_path):
    junk = tmp_path / "notes.png"
    junk.write_bytes(b"these are not pixels" * 10)
    response = upload(admin_client, project, junk)
    assert response.status_code == 400
    assert "not a PNG" in response.json()["detail"]
    assert not Image.objects.exists() and not Job.objects.exists()


def test_it_refuses_a_mask_of_another_size_before_queueing(admin_client, project):
    other_size = sorted((DATA / "dsb2018_brightfield" / "masks").glob("*.png"))[0]
    response = upload(admin_client, project, U2OS_IMAGE, mask=other_size)
    assert response.status_code == 400
    assert "is 320x256 (width x height) but its image is 696x520" in response.json()["detail"]
    assert not Image.objects.exists() and not Job.objects.exists()
    assert not staged_uploads()


def test_an_image_that_fails_to_ingest_leaves_nothing_but_the_failed_job(admin_client, project, tmp_path):
    # A PNG whose header is fine but whose pixels are cut off: only decoding finds out.
    broken = tmp_path / "cut.png"
    broken.write_bytes(U2OS_IMAGE.read_bytes()[:4000])
    job = run_queued(upload(admin_client, project, broken))
    assert job.status == JobStatus.FAILED and "cut.png" in job.error
    assert not Image.objects.exists() and not Crop.objects.exists()
    assert not staged_uploads()
    assert not default_storage.exists(f"crops/{project.pk}")


def test_a_cancelled_ingestion_leaves_nothing(admin_client, project):
    answer = upload(admin_client, project, U2OS_IMAGE)
    Job.objects.filter(pk=answer.json()["id"]).update(cancel_requested=True)
    job = run_queued(answer)
    assert job.status == JobStatus.CANCELLED
    assert not Image.objects.exists() and not Crop.objects.exists()
    assert not staged_uploads()


def test_it_asks_for_the_file(admin_client, project):
    response = admin_client.post(f"/api/projects/{project.id}/images/", {})
    assert response.status_code == 400
    assert "file" in response.json()


def test_an_ingestion_delivered_twice_runs_once(admin_client, project):
    answer = upload(admin_client, project, U2OS_IMAGE)
    assert run_queued(answer).status == JobStatus.SUCCEEDED
    assert jobs.run_job(answer.json()["id"], worker="test") is None  # the second delivery finds it ended
    assert Image.objects.count() == 1 and Job.objects.get().result["created"] is True


def test_an_ingestion_whose_worker_died_is_failed_and_its_upload_deleted(admin_client, project):
    answer = upload(admin_client, project, U2OS_IMAGE)
    assert staged_uploads()
    long_ago = timezone.now() - timedelta(hours=1)
    Job.objects.filter(pk=answer.json()["id"]).update(status=JobStatus.RUNNING, heartbeat_at=long_ago,
                                                     worker="gone@host pid=1")
    assert jobs.reap_stale_jobs() == [answer.json()["id"]]
    assert not staged_uploads() and not Image.objects.exists()


def test_jobs_are_listed_by_kind(admin_client, project):
    job_id = upload(admin_client, project, U2OS_IMAGE).json()["id"]
    url = f"/api/projects/{project.id}/jobs/"
    assert [row["id"] for row in admin_client.get(f"{url}?kind=ingest").json()] == [job_id]
    assert admin_client.get(f"{url}?kind=train&kind=predict").json() == []
    assert [row["id"] for row in admin_client.get(f"{url}?kind=train&kind=ingest").json()] == [job_id]
    assert admin_client.get(f"{url}?kind=everything").status_code == 400

