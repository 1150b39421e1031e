"""Starting a project: the New project page (/projects/new/) and `manage.py create_project`.

Both create through annotations.projects.create_project, so they refuse what POST /api/projects/
refuses, naming every problem; the creator (or --admin) becomes the project's admin.
"""

from __future__ import annotations

import re
from html import unescape
from io import StringIO

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from active_learning.backends.settings import parse_backend_settings
from active_learning.backends.weights import PRETRAINED_FILES, project_weights_dir
from active_learning.models import ModelVersion, ModelVersionStatus
from active_learning.strategies import STRATEGIES
from annotations.models import Membership, Project, Role
from tests.factories import make_user

pytestmark = pytest.mark.django_db
URL = "/projects/new/"


def browser_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff(db):
    return make_user("stella", staff=True)


@pytest.fixture
def user(db):
    return make_user("uma")


def form(**changes: str) -> dict[str, str]:
    return {"name": "mitochondria", "description": "", "model_channels": "", "display_channels": "",
            "crop_size": "256", "crop_overlap": "32", "start": "scratch", "pretrained": "nuclei",
            "strategy": "random", **changes}


def problems(response, field: str) -> list[str]:
    html = response.content.decode()
    block = re.search(rf'<ul class="problems" data-for="{field}"[^>]*>(.*?)</ul>', html, re.S)
    return [unescape(item) for item in re.findall(r"<li>(.*?)</li>", block.group(1), re.S)] if block else []


# --- who may -----------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page():
    response = Client().get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Client().post(URL, form())["Location"].startswith("/accounts/login/")
    assert not Project.objects.exists()


def test_only_staff_may_start_a_project_unless_the_setting_lets_users(user, staff, monkeypatch):
    assert browser_for(user).get(URL).status_code == 403
    assert browser_for(user).post(URL, form()).status_code == 403
    assert "New project" not in browser_for(user).get("/").content.decode()
    assert not Project.objects.exists()

    assert browser_for(staff).get(URL).status_code == 200
    assert 'href="/projects/new/"' in browser_for(staff).get("/").content.decode()

    monkeypatch.setitem(settings.LABELSERVER, "PROJECT_CREATORS", "users")
    assert 'href="/projects/new/"' in browser_for(user).get("/").content.decode()
    response = browser_for(user).post(URL, form())
    assert response.status_code == 302
    assert Membership.objects.get(project__name="mitochondria").user == user


def test_the_form_is_csrf_checked(staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.post(URL, form()).status_code == 403
    assert not Project.objects.exists()


# --- the form ----------------------------------------------------------------------------------------


def test_the_page_offers_the_strategies_and_the_pretrained_models(staff):
    html = browser_for(staff).get(URL).content.decode()
    for name in [*STRATEGIES, *PRETRAINED_FILES]:
        assert f'<option value="{name}"' in html
    assert 'enctype="multipart/form-data"' in html and "<script" not in html.split("<main", 1)[1]


def test_a_new_project_has_its_creator_as_admin_and_goes_on_to_upload(staff):
    browser = browser_for(staff)
    response = browser.post(URL, form(description="HeLa", model_channels="1, 0",
                                                 display_channels="0, 1, 2", crop_size="128", crop_overlap="16",
                                                 start="pretrained", pretrained="cyto3"))

    project = Project.objects.get(name="mitochondria")
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/upload/"
    assert list(Membership.objects.filter(project=project).values_list("user__username", "role")) == [
        ("stella", Role.ADMIN)]
    assert (project.description, project.model_channels, project.display_channels) == ("HeLa", [1, 0], [0, 1, 2])
    assert (project.crop_size, project.crop_overlap, project.strategy) == (128, 16, "random")
    assert parse_backend_settings(project.backend_settings).start_from == "pretrained:cyto3"
    upload = browser.get(response["Location"])
    assert upload.status_code == 200 and "Project &#x27;mitochondria&#x27; created" in upload.content.decode()


def test_scratch_leaves_the_default_start(staff):
    browser_for(staff).post(URL, form(crop_size="", crop_overlap=""))
    project = Project.objects.get(name="mitochondria")
    assert parse_backend_settings(project.backend_settings).start_from == "scratch"
    assert (project.crop_size, project.crop_overlap) == (Project().crop_size, Project().crop_overlap)


def test_every_problem_is_shown_beside_its_field_and_nothing_is_created(staff):
    Project.objects.create(name="taken")
    response = browser_for(staff).post(URL, form(name="taken", crop_size="8", model_channels="0, x",
                                                 strategy="psychic", start="pretrained", pretrained="nope"))

    assert response.status_code == 400
    assert Project.objects.count() == 1
    assert "Nothing was created" in response.content.decode()
    assert problems(response, "crop_size") == ["Ensure this value is greater than or equal to 16."]
    assert problems(response, "model_channels") == ["item 2: A valid integer is required."]
    assert any("psychic" in p for p in problems(response, "strategy"))
    assert any("'nope'" in p and "cyto3" in p for p in problems(response, "backend_settings"))
    assert problems(response, "name") == ["a project named 'taken' already exists"]
    html = response.content.decode()
    assert 'value="0, x"' in html and '<option value="psychic" selected>' in html  # as typed


def test_a_blank_name_and_an_overlap_too_large_are_named(staff):
    response = browser_for(staff).post(URL, form(name=" ", crop_size="64", crop_overlap="64"))
    assert response.status_code == 400 and not Project.objects.exists()
    assert problems(response, "name") == ["This field may not be blank."]
    assert problems(response, "crop_overlap") == ["crop_overlap (64) must be smaller than crop_size (64)"]


@pytest.mark.slow
def test_uploaded_weights_become_the_active_first_version(staff, cpnet_file):
    weights = SimpleUploadedFile("mine.pt", cpnet_file.read_bytes())
    response = browser_for(staff).post(URL, {**form(start="weights"), "weights": weights})

    project = Project.objects.get(name="mitochondria")
    assert response["Location"] == f"/projects/{project.pk}/upload/"
    version = ModelVersion.objects.get(project=project)
    assert (version.number, version.status, version.origin) == (1, ModelVersionStatus.ACTIVE, "upload")
    assert parse_backend_settings(project.backend_settings).start_from == "scratch"


def test_refused_weights_leave_no_project_behind(staff):
    weights = SimpleUploadedFile("junk.pt", b"not a network")
    response = browser_for(staff).post(URL, {**form(start="weights"), "weights": weights})

    assert response.status_code == 400
    assert not Project.objects.exists() and not ModelVersion.objects.exists()
    assert not project_weights_dir(settings.MEDIA_ROOT, 1).exists()
    [problem] = problems(response, "weights")
    assert problem.startswith("junk.pt is not a usable cellpose weights file")


def test_choosing_uploaded_weights_without_a_file_is_named(staff):
    response = browser_for(staff).post(URL, form(start="weights"))
    assert response.status_code == 400 and not Project.objects.exists()
    assert problems(response, "weights") == ["choose the weights file to start from"]


# --- manage.py create_project ------------------------------------------------------------------------


def create(*args: str) -> str:
    out = StringIO()
    call_command("create_project", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_command_creates_a_project_and_prints_its_id(staff):
    out = create("nuclei-2", "--description", "DAPI", "--crop-size", "128", "--crop-overlap", "8",
                 "--channels", "0", "--display-channels", "0,1", "--strategy", "random",
                 "--start-from", "pretrained:nuclei", "--admin", "stella")

    project = Project.objects.get(name="nuclei-2")
    assert out.strip() == str(project.pk)
    assert (project.description, project.crop_size, project.crop_overlap) == ("DAPI", 128, 8)
    assert (project.model_channels, project.display_channels, project.strategy) == ([0], [0, 1], "random")
    assert parse_backend_settings(project.backend_settings).start_from == "pretrained:nuclei"
    assert Membership.objects.get(project=project).user == staff
    assert Membership.objects.get(project=project).role == Role.ADMIN


def test_the_command_names_every_problem_and_creates_nothing(staff):
    Project.objects.create(name="taken")
    with pytest.raises(CommandError) as caught:
        create("taken", "--crop-size", "64", "--crop-overlap", "64", "--strategy", "psychic",
               "--start-from", "pretrained:nope", "--admin", "stella")
    message = str(caught.value)
    assert "the project was not created" in message
    assert "a project named 'taken' already exists" in message
    assert "crop_overlap (64) must be smaller than crop_size (64)" in message
    assert "psychic" in message and "'nope'" in message

    with pytest.raises(CommandError, match="crop_size: Ensure this value is greater than or equal to 16"):
        create("small", "--crop-size", "8", "--admin", "stella")
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        create("orphan", "--admin", "nobody")
    assert list(Project.objects.values_list("name", flat=True)) == ["taken"]


def test_the_command_defaults_to_the_only_superuser(db):
    with pytest.raises(CommandError, match="--admin USERNAME"):
        create("nobody-admin")
    root = make_user("root")
    root.is_superuser = True
    root.save()
    create("rooted")
    assert Membership.objects.get(project__name="rooted").user == root
