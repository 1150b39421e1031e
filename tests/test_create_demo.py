"""`manage.py create_demo`: the demo project, its labels in both splits, its accounts, and a
second run that changes nothing."""

from __future__ import annotations

import re
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from active_learning.models import Job, JobKind
from annotations.models import Annotation, Crop, Image, Membership, Project, Role, Split

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def snapshot(settings) -> dict[str, object]:
    media = Path(settings.MEDIA_ROOT)
    return {
        "rows": [list(model.objects.order_by("pk").values()) for model in
                 (Project, Image, Crop, Annotation, Membership, get_user_model())],
        "files": sorted((str(p.relative_to(media)), p.stat().st_mtime_ns) for p in media.rglob("*") if p.is_file()),
    }


def demo_trainings() -> list[tuple[str, str]]:
    return list(Job.objects.filter(kind=JobKind.TRAIN).values_list("status", "trigger"))


def test_it_creates_a_labelled_demo_and_a_second_run_changes_nothing(settings):
    settings.DEBUG = True  # development: the shipped passwords
    out = run()

    project = Project.objects.get(name="Demo: U2OS nuclei")
    assert project.crop_size == 256 and project.backend_settings == {"train": {"n_epochs": 40}}
    assert project.images.count() == 20 and project.crops.count() == 20 * 9
    labelled_images = Image.objects.filter(crops__status="labelled").distinct()
    assert labelled_images.count() == 6
    for split in (Split.TRAIN, Split.VALIDATION):
        assert project.crops.filter(status="labelled", split=split).exists()
    assert project.crops.filter(status="unlabelled").count() == 14 * 9
    assert set(Annotation.objects.values_list("source", flat=True)) == {"import"}
    assert demo_trainings() == [("queued", "demo")]
    assert "Queued training job" in out
    assert "admin-demo-password" in out and "labeller-demo-password" in out and "http://" in out

    before = snapshot(settings)
    again = run()

    assert snapshot(settings) == before
    assert demo_trainings() == [("queued", "demo")]
    assert "already existed" in again


def two_image_demo(pairs: list[tuple[Path, Path]], folder: Path) -> Path:
    for kind, index in (("images", 0), ("masks", 1)):
        (folder / kind).mkdir()
        for pair in pairs[:2]:
            shutil.copy(pair[index], folder / kind / pair[0].name)
    return folder


def test_it_creates_the_accounts_from_the_environment(monkeypatch, u2os_pairs, tmp_path):
    two_image_demo(u2os_pairs, tmp_path)
    monkeypatch.setenv("DEMO_ADMIN_USER", "curator")
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "a-long-curator-password")
    monkeypatch.setenv("DEMO_LABELLER_USER", "student")
    monkeypatch.setenv("DEMO_LABELLER_PASSWORD", "a-long-student-password")

    out = run("--data-dir", str(tmp_path))

    users = get_user_model().objects
    curator, student = users.get(username="curator"), users.get(username="student")
    assert curator.is_staff and curator.check_password("a-long-curator-password")
    assert not student.is_staff and student.check_password("a-long-student-password")
    project = Project.objects.get()
    assert Membership.objects.get(project=project, user=curator).role == Role.ADMIN
    assert Membership.objects.get(project=project, user=student).role == Role.LABELLER
    assert "curator" in out and "a-long-student-password" in out
    assert project.images.count() == 2 and not project.crops.filter(status="unlabelled").exists()


def test_under_debug_0_it_gives_no_account_a_known_password(settings, u2os_pairs, tmp_path):
    settings.DEBUG = False
    out = run("--data-dir", str(two_image_demo(u2os_pairs, tmp_path)))

    printed = dict(re.findall(r"username: (\S+) +password: (\S+)", out))
    assert set(printed) == {"admin", "labeller"}
    users = get_user_model().objects
    for username, shipped in (("admin", "admin-demo-password"), ("labeller", "labeller-demo-password")):
        user = users.get(username=username)
        assert not user.check_password(shipped) and shipped not in out
        assert len(printed[username]) >= 16 and user.check_password(printed[username])
    assert printed["admin"] != printed["labeller"]
    assert "shown only now" in out
    assert "already existed" in run("--data-dir", str(tmp_path))
