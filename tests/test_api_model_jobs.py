"""The model jobs and versions API: who may do what, and what each call changes."""

from __future__ import annotations

import pytest

from active_learning import jobs
from active_learning.models import Job, JobKind, JobStatus, ModelVersion, ModelVersionStatus


@pytest.fixture
def version(project, settings):
    weights = settings.MEDIA_ROOT / "models" / str(project.pk) / "w.pt"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"weights")
    return ModelVersion.objects.create(project=project, number=1, weights=f"models/{project.pk}/w.pt",
                                       metrics={"ap50": 0.5}, status=ModelVersionStatus.ACTIVE)


@pytest.fixture
def job(project):
    return jobs.enqueue_job(project, JobKind.PREDICT)


ACTORS = ["admin_client", "labeller_client", "outsider_client", "anon_client"]


def _call(client, method, url, data=None):
    return getattr(client, method)(url, data, format="json") if data is not None else getattr(client, method)(url)


@pytest.mark.parametrize(
    ("method", "url", "data", "expected"),
    [
        ("get", "/api/projects/{project}/jobs/", None, [200, 403, 404, 403]),
        ("get", "/api/jobs/{job}/", None, [200, 403, 404, 403]),
        ("get", "/api/projects/{project}/model-versions/", None, [200, 200, 404, 403]),
        ("get", "/api/model-versions/{version}/", None, [200, 200, 404, 403]),
        ("get", "/api/model-versions/{version}/weights/", None, [200, 403, 404, 403]),
        ("get", "/api/projects/{project}/retraining/", None, [200, 403, 404, 403]),
        ("put", "/api/projects/{project}/retraining/", {"after_annotations": 5}, [200, 403, 404, 403]),
        ("post", "/api/jobs/{job}/cancel/", {}, [200, 403, 404, 403]),
        ("post", "/api/model-versions/{version}/promote/", {}, [200, 403, 404, 403]),
    ],
)
def test_the_permission_matrix(request, project, version, job, method, url, data, expected):
    url = url.format(project=project.pk, job=job.pk, version=version.pk)
    got = [_call(request.getfixturevalue(actor), method, url, data).status_code for actor in ACTORS]
    assert got == expected


def test_it_queues_a_training_and_refuses_a_second(admin_client, project):
    first = admin_client.post(f"/api/projects/{project.pk}/jobs/", {"kind": "train"}, format="json")
    assert first.status_code == 201 and first.json()["status"] == "queued"
    second = admin_client.post(f"/api/projects/{project.pk}/jobs/", {"kind": "train"}, format="json")
    assert second.status_code == 409
    assert "already queued" in second.json()["detail"]
    assert Job.objects.filter(project=project, kind=JobKind.TRAIN).count() == 1


def test_it_refuses_a_prediction_without_an_active_version(admin_client, project):
    response = admin_client.post(f"/api/projects/{project.pk}/jobs/", {"kind": "predict"}, format="json")
    assert response.status_code == 409
    assert "no active model version" in response.json()["detail"]


def test_it_refuses_an_unknown_job_kind(admin_client, project):
    response = admin_client.post(f"/api/projects/{project.pk}/jobs/", {"kind": "dance"}, format="json")
    assert response.status_code == 400


def test_a_job_shows_its_progress_and_log(admin_client, job):
    jobs.claim_job(job.pk, "gpu@a")
    jobs.set_progress(job.pk, stage="training", epoch=3, n_epochs=10, loss=0.4)
    jobs.append_log(job.pk, "hello from the worker")
    body = admin_client.get(f"/api/jobs/{job.pk}/").json()
    assert body["status"] == JobStatus.RUNNING
    assert body["progress"]["epoch"] == 3
    assert "hello from the worker" in body["log"]


def test_rolling_back_makes_an_older_version_active_and_repredicts(admin_client, project, version, settings):
    newer = ModelVersion.objects.create(project=project, number=2, weights=version.weights.name)
    response = admin_client.post(f"/api/model-versions/{newer.pk}/promote/")
    assert response.status_code == 200 and response.json()["status"] == "active"
    back = admin_client.post(f"/api/model-versions/{version.pk}/promote/")
    assert back.json()["status"] == "active"
    statuses = dict(ModelVersion.objects.values_list("number", "status"))
    assert statuses == {1: "active", 2: "retired"}
    assert Job.objects.filter(kind=JobKind.PREDICT, model_version=version, trigger="promotion").exists()


def test_it_downloads_the_weights_file(admin_client, version):
    response = admin_client.get(f"/api/model-versions/{version.pk}/weights/")
    assert b"".join(response.streaming_content) == b"weights"
    assert "attachment" in response["Content-Disposition"]


def test_it_edits_the_retraining_schedule(admin_client, project):
    response = admin_client.put(f"/api/projects/{project.pk}/retraining/",
                                {"schedule": "0 3 * * *", "after_annotations": 20}, format="json")
    assert response.json() == {"schedule": "0 3 * * *", "after_annotations": 20}
    bad = admin_client.put(f"/api/projects/{project.pk}/retraining/", {"schedule": "whenever"}, format="json")
    assert bad.status_code == 400 and "five fields" in bad.json()["detail"]
    assert admin_client.get(f"/api/projects/{project.pk}/retraining/").json()["schedule"] == "0 3 * * *"


# --- One queued prediction per (project, kind, version) -------------------------------


def test_starting_a_prediction_again_answers_the_queued_one(admin_client, project, version):
    url = f"/api/projects/{project.pk}/jobs/"
    first = admin_client.post(url, {"kind": "predict"}, format="json")
    assert first.status_code == 201
    for _ in range(5):
        again = admin_client.post(url, {"kind": "predict"}, format="json")
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert Job.objects.filter(project=project, kind=JobKind.PREDICT).count() == 1


def test_a_running_or_finished_prediction_does_not_stop_a_new_one(admin_client, project, version):
    url = f"/api/projects/{project.pk}/jobs/"
    first = admin_client.post(url, {"kind": "predict"}, format="json").json()["id"]
    Job.objects.filter(pk=first).update(status=JobStatus.RUNNING)
    second = admin_client.post(url, {"kind": "predict"}, format="json")
    assert second.status_code == 201 and second.json()["id"] != first
    Job.objects.filter(pk=second.json()["id"]).update(status=JobStatus.SUCCEEDED)
    assert admin_client.post(url, {"kind": "predict"}, format="json").status_code == 201


def test_predictions_of_different_versions_or_kinds_are_queued_apart(project, version):
    other = ModelVersion.objects.create(project=project, number=2, status=ModelVersionStatus.CANDIDATE)
    by_version = [jobs.enqueue_job(project, JobKind.PREDICT, model_version=v) for v in (version, other, version)]
    assert by_version[0].pk == by_version[2].pk != by_version[1].pk
    plain = jobs.enqueue_job(project, JobKind.PREDICT)
    score = jobs.enqueue_job(project, JobKind.SCORE)
    assert len({plain.pk, score.pk, by_version[0].pk}) == 3
    assert jobs.queue_job(project, JobKind.SCORE) == (score, False)


def test_promoting_twice_queues_one_prediction(admin_client, project, version):
    for _ in range(3):
        assert admin_client.post(f"/api/model-versions/{version.pk}/promote/").status_code == 200
    assert Job.objects.filter(project=project, kind=JobKind.PREDICT, model_version=version).count() == 1
