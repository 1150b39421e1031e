"""python manage.py create_demo: a ready-to-label demo project from the shipped U2OS nuclei.

Creates the project "Demo: U2OS nuclei" (crop size 256), ingests the 20 images of
data/dsb2018_u2os, imports the ground-truth labels of six of them (four training and two
validation images, so a first model can be trained and evaluated) and leaves the rest
unlabelled; creates an admin (staff, superuser, project admin) and a labeller account.

Idempotent: every step looks for what it would create first, so a second run changes nothing
(existing accounts keep their passwords). Accounts come from the environment:
DEMO_ADMIN_USER / DEMO_ADMIN_PASSWORD and DEMO_LABELLER_USER / DEMO_LABELLER_PASSWORD. A password
not given is the shipped one under DEBUG=1 and a random one under DEBUG=0 (a superuser with a
password printed in the README would be anyone's way in); either way it is printed once, when the
account is created.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from active_learning.models import Job, JobKind, ModelVersion
from active_learning.retraining import start_retraining
from annotations.ingest import ensure_labelled_validation, file_sha256, ingest_image, split_for_hash
from annotations.management.commands.import_images import _bar_stream
from annotations.models import Membership, Project, Role, Split

DEMO_PROJECT = "Demo: U2OS nuclei"
# Short enough that the first model trains in a few minutes on a 2-core CPU; admins raise it later.
DEMO_BACKEND_SETTINGS = {"train": {"n_epochs": 40}}
DEMO_DESCRIPTION = (
    "Fluorescence nuclei (U2OS cells, Hoechst) from the 2018 Data Science Bowl (BBBC038v1, CC0). "
    "Six images come with ground-truth labels; label the rest."
)
DEMO_DATA = Path(settings.BASE_DIR) / "data" / "dsb2018_u2os"
LABELLED_TRAIN_IMAGES = 4
LABELLED_VALIDATION_IMAGES = 2
DEFAULT_ACCOUNTS = {
    "admin": ("DEMO_ADMIN_USER", "admin", "DEMO_ADMIN_PASSWORD", "admin-demo-password"),
    "labeller": ("DEMO_LABELLER_USER", "labeller", "DEMO_LABELLER_PASSWORD", "labeller-demo-password"),
}


def demo_password(shipped: str) -> str:
    """The password of a new account whose password the environment does not give."""
    return shipped if settings.DEBUG else secrets.token_urlsafe(12)


def queue_first_training(project: Project, stdout: Any) -> None:
    """Train the demo's first model in the background, unless it has one or one is on its way.

    The demo has labelled train and validation crops by now, so the worker trains, evaluates,
    promotes and then predicts the unlabelled crops, with no one asking."""
    if ModelVersion.objects.filter(project=project).exists():
        return
    if Job.objects.filter(project=project, kind=JobKind.TRAIN, status__in=["queued", "running", "succeeded"]).exists():
        return
    job = start_retraining(project, trigger="demo")
    if job is not None:
        stdout.write(f"Queued training job {job.pk}: the first model trains in the background.")


def demo_pairs(data_dir: Path) -> list[tuple[Path, Path]]:
    """(image, label image) pairs of the shipped layout: images/<id>.png + masks/<id>.png."""
    images = sorted((data_dir / "images").glob("*.png"))
    if not images:
        raise CommandError(f"no demo images under {data_dir / 'images'}")
    return [(image, data_dir / "masks" / image.name) for image in images]


def choose_labelled(pairs: list[tuple[Path, Path]], validation_fraction: float) -> set[Path]:
    """The images whose labels are imported: the first few of each split (by file name), so
    both splits have labelled crops. Splits follow the same hash rule ingestion applies."""
    by_split: dict[str, list[Path]] = {Split.TRAIN: [], Split.VALIDATION: []}
    for image, _ in pairs:
        by_split[split_for_hash(file_sha256(image), validation_fraction)].append(image)
    chosen = by_split[Split.VALIDATION][:LABELLED_VALIDATION_IMAGES]
    # Too few validation images by hash: take more training images; ensure_labelled_validation
    # then moves one of them to validation.
    wanted = LABELLED_TRAIN_IMAGES + LABELLED_VALIDATION_IMAGES - len(chosen)
    return set(chosen + by_split[Split.TRAIN][:wanted])


def demo_url() -> str:
    """Where scripts/run_all.py serves the app (same HOST and PORT variables)."""
    return f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}/"


class Command(BaseCommand):
    help = "Create the demo project, its images and labels, and an admin and a labeller account (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data-dir", type=Path, default=DEMO_DATA, help="images/ + masks/ folder to ingest")

    def handle(self, *args: Any, **options: Any) -> None:
        project, _ = Project.objects.get_or_create(
            name=DEMO_PROJECT,
            defaults={"description": DEMO_DESCRIPTION, "crop_size": 256, "backend_settings": DEMO_BACKEND_SETTINGS},
        )
        accounts = {role: self._account(role) for role in DEFAULT_ACCOUNTS}
        self._join(project, accounts["admin"][0], Role.ADMIN)
        self._join(project, accounts["labeller"][0], Role.LABELLER)
        self._ingest(project, options["data_dir"], accounts["admin"][0])
        ensure_labelled_validation(project)
        queue_first_training(project, self.stdout)
        self._print_summary(project, accounts)

    def _account(self, role: str) -> tuple[Any, str, bool]:
        """(user, password to print, created) for the admin or the labeller account."""
        user_var, default_user, password_var, default_password = DEFAULT_ACCOUNTS[role]
        username = os.environ.get(user_var) or default_user
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is not None:
            return user, "(unchanged: the account already existed)", False
        password = os.environ.get(password_var) or demo_password(default_password)
        staff = role == "admin"
        user = User.objects.create_user(username=username, password=password, is_staff=staff, is_superuser=staff)
        return user, password, True

    def _join(self, project: Project, user: Any, role: str) -> bool:
        _, created = Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
        return created

    def _ingest(self, project: Project, data_dir: Path, admin: Any) -> bool:
        pairs = demo_pairs(data_dir)
        labelled = choose_labelled(pairs, project.validation_fraction)
        created = False
        bar = tqdm(pairs, desc="Demo images", unit="image", file=_bar_stream(self.stderr), disable=None)
        for image, mask in bar:
            result = ingest_image(project, image, original_name=image.name,
                                  mask_source=mask if image in labelled else None, user=admin)
            created |= result.created
        return created

    def _print_summary(self, project: Project, accounts: dict[str, tuple[Any, str, bool]]) -> None:
        images = project.images.count()
        labelled = project.crops.filter(status="labelled")
        self.stdout.write(self.style.SUCCESS(
            f"Demo project {project.name!r}: {images} images, {project.crops.count()} crops, "
            f"{labelled.filter(split=Split.TRAIN).count()} labelled training and "
            f"{labelled.filter(split=Split.VALIDATION).count()} labelled validation crops."
        ))
        for role, (user, password, _) in accounts.items():
            self.stdout.write(f"  {role:9} username: {user.get_username():12} password: {password}")
        if any(created for _, _, created in accounts.values()):
            self.stdout.write("Passwords are shown only now; change them with `manage.py changepassword USERNAME`.")
        self.stdout.write(f"Open {demo_url()} and sign in.")
