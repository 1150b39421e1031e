"""The data the API fuzzing runs against: a project whose objects the generated requests can find.

Used by tests/test_api_fuzz.py (the CI run, in-process) and scripts/fuzz_api.py (the long run
against a throwaway server). A project with an admin and a labeller (each with an API token),
an image tiled into crops, a labelled crop, two model versions (the active one with a weights
file and a prediction) and a queued training job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.core.files.base import ContentFile
from rest_framework.authtoken.models import Token

from active_learning.jobs import enqueue_job
from active_learning.models import JobKind, ModelVersionStatus
from annotations.masks import encode_png
from annotations.models import Annotation, CropStatus, Role
from tests.factories import add_member, make_image, make_model_version, make_prediction, make_project, make_user

ROLES = ("admin", "labeller")


@dataclass(frozen=True)
class Seeded:
    """The seeded objects' ids by path parameter name, and an API token per role."""

    ids: dict[str, int]
    tokens: dict[str, str]


def seed_fuzz_data() -> Seeded:
    project = make_project("fuzzed")
    admin, labeller = make_user("fuzz-admin"), make_user("fuzz-labeller")
    add_member(project, admin, Role.ADMIN)
    add_member(project, labeller, Role.LABELLER)
    image = make_image(project, crop_size=128, n_crops=6)
    crops = list(image.crops.order_by("id"))
    mask = np.zeros((crops[0].height, crops[0].width), np.uint16)
    mask[4:20, 4:20] = 1
    crops[0].status = CropStatus.LABELLED
    crops[0].save()
    annotation = Annotation.objects.create(crop=crops[0], version=1, author=labeller, mask_png=encode_png(mask),
                                           n_cells=1)
    parent = make_model_version(project, number=1, status=ModelVersionStatus.RETIRED)
    version = make_model_version(project, number=2)
    version.parent = parent
    version.weights.save("fuzz.pt", ContentFile(b"not really weights"), save=True)
    make_prediction(crops[1], version, mask)
    job = enqueue_job(project, JobKind.TRAIN, model_version=version, user=admin)
    ids = {"project_id": project.pk, "image_id": image.pk, "crop_id": crops[1].pk, "user_id": labeller.pk,
           "version_id": version.pk, "job_id": job.pk, "annotation_id": annotation.pk}
    tokens = {"admin": Token.objects.create(user=admin).key, "labeller": Token.objects.create(user=labeller).key}
    return Seeded(ids, tokens)
