"""Issue 24 under a race: a labeller's requests at once cannot pass the lease cap together, and
an admin's clicks at once queue one prediction. Threads with their own connections through the
whole API stack (see tests/test_concurrency.py); `make test` runs these on PostgreSQL again."""

from __future__ import annotations

import pytest

from active_learning.models import Job, JobKind, ModelVersion, ModelVersionStatus
from annotations.models import Crop, Role
from tests.factories import add_member, client_for, make_crops, make_project, make_user
from tests.test_concurrency import all_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

N = 8


def test_leases_at_once_stop_at_the_cap(settings):
    settings.LABELSERVER = {**settings.LABELSERVER, "MAX_LEASES_PER_LABELLER": 3}
    project = make_project("race")
    user = make_user("greedy")
    add_member(project, user)
    crops = make_crops(project, N)
    codes = all_at_once(lambda i: client_for(user).post(f"/api/crops/{crops[i].id}/lease/").status_code, N)
    assert sorted(codes) == [200] * 3 + [409] * (N - 3)
    assert Crop.objects.filter(leased_by=user).count() == 3


def test_predictions_started_at_once_queue_one_job():
    project = make_project("clicks")
    admin = make_user("clicker")
    add_member(project, admin, Role.ADMIN)
    ModelVersion.objects.create(project=project, number=1, status=ModelVersionStatus.ACTIVE, origin="pretrained:x")
    url = f"/api/projects/{project.id}/jobs/"
    answers = all_at_once(lambda i: client_for(admin).post(url, {"kind": "predict"}, format="json"), N)
    assert sorted(a.status_code for a in answers) == [200] * (N - 1) + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert Job.objects.filter(project=project, kind=JobKind.PREDICT).count() == 1
