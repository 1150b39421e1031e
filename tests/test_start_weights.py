"""`start_from: "weights:<sha256>"` names weights uploaded to the project itself, looked up in its
own weights folder only; a path (a file-exists oracle over the server's disk, or another project's
weights) is refused with a 400 that names the form to use."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from active_learning import versions
from active_learning.backends.settings import BackendSettingsError, parse_backend_settings
from active_learning.backends.weights import WeightsError, project_weights_dir, start_weights
from active_learning.simulation.run import SimulationSettings, create_simulation_project
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def stored(project, content: bytes, tmp_path: Path) -> str:
    """Weights as an upload to `project` leaves them; their SHA-256."""
    source = tmp_path / "w.pt"
    source.write_bytes(content)
    return versions.store_weights(project, source)[1]


def patch_start(client, project, start_from: str):
    return client.patch(f"/api/projects/{project.pk}/", {"backend_settings": {"start_from": start_from}},
                        format="json")


@pytest.mark.parametrize("value", [
    "weights:/etc/passwd",
    "weights:../../models/2/" + "a" * 64 + ".pt",
    "weights:models/1/" + "a" * 64 + ".pt",
    "weights:start.pth",
    "weights:C:\\weights\\start.pth",
    "weights:",
])
def test_a_path_is_refused_naming_the_form_to_use(value):
    with pytest.raises(BackendSettingsError) as caught:
        parse_backend_settings({"start_from": value})
    assert "must name weights uploaded to this project as 'weights:<sha256>'" in str(caught.value)
    assert caught.value.http_status == 400


def test_the_api_refuses_a_path_with_a_400(admin_client, project):
    response = patch_start(admin_client, project, "weights:/etc/passwd")
    assert response.status_code == 400
    assert "'weights:<sha256>'" in str(response.json())


def test_the_api_refuses_weights_this_project_never_had(admin_client, project, other_project, tmp_path):
    theirs = stored(other_project, b"their weights", tmp_path)  # another project's upload
    response = patch_start(admin_client, project, f"weights:{theirs}")
    assert response.status_code == 400
    assert f"no weights file with SHA-256 {theirs} was uploaded to this project" in str(response.json())


def test_the_api_accepts_the_projects_own_upload(admin_client, project, tmp_path):
    sha = stored(project, b"our weights", tmp_path)
    response = patch_start(admin_client, project, f"weights:{sha.upper()}")  # any case: one hash
    assert response.status_code == 200, response.json()
    assert parse_backend_settings(response.json()["backend_settings"]).start_from == f"weights:{sha}"


def test_start_weights_look_only_in_the_projects_own_folder(project, other_project, tmp_path):
    theirs = stored(other_project, b"their weights", tmp_path)
    mine = project_weights_dir(settings.MEDIA_ROOT, project.pk)
    with pytest.raises(WeightsError, match="was uploaded to this project"):
        start_weights(f"weights:{theirs}", weights_dir=mine)
    with pytest.raises(WeightsError, match="is not the SHA-256"):
        start_weights("weights:../x", weights_dir=mine)
    with pytest.raises(WeightsError, match="no project was given"):
        start_weights(f"weights:{theirs}")


def test_start_weights_validate_the_file_they_find(project, tmp_path):
    sha = stored(project, b"not a network", tmp_path)
    with pytest.raises(WeightsError, match="not a readable PyTorch weights file"):
        start_weights(f"weights:{sha}", weights_dir=project_weights_dir(settings.MEDIA_ROOT, project.pk))


def test_a_new_project_cannot_name_weights_it_has_not_got(admin):
    from annotations import projects
    from annotations.projects import InvalidSettings

    staff = make_user("boss", staff=True)
    with pytest.raises(InvalidSettings, match="weights uploaded to the project"):
        projects.create_project(name="fresh", creator=staff, backend_settings={"start_from": "weights:" + "b" * 64})


def test_the_simulation_uploads_the_operators_start_file_to_each_project(tmp_path):
    """`simulate_labelling --start-from weights:<path>` names a file on the operator's machine:
    each simulation project gets it as its own upload and starts from its hash."""
    source = tmp_path / "base.pth"
    source.write_bytes(b"base weights")
    config = SimulationSettings(rounds=1, per_round=1, backend_settings={"start_from": f"weights:{source}"})
    project = create_simulation_project("sim", make_user("sim", staff=True), "random", 0, config)
    sha = versions.file_sha256(source)
    assert project.backend_settings["start_from"] == f"weights:{sha}"
    assert (project_weights_dir(settings.MEDIA_ROOT, project.pk) / f"{sha}.pt").read_bytes() == b"base weights"


@pytest.mark.slow
def test_the_upload_endpoints_weights_sha256_is_the_name_to_use(admin_client, project, cpnet_file):
    """The documented flow: POST model-versions answers weights_sha256, which start_from takes."""
    upload = SimpleUploadedFile("w.pt", cpnet_file.read_bytes())
    response = admin_client.post(f"/api/projects/{project.pk}/model-versions/", {"weights": upload},
                                 format="multipart")
    assert response.status_code == 201, response.json()
    assert patch_start(admin_client, project, f"weights:{response.json()['weights_sha256']}").status_code == 200
