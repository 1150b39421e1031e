"""What one `next` costs in SQL statements, and that the crop it serves still carries all it has
(tags, current annotation, prediction) when those reads are skipped for crops without them.
`make test` runs these again on PostgreSQL, where the open queue's head is locked and claimed in
one statement."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotations.models import Crop, Tag
from tests.factories import make_annotation, make_crops, make_model_version, make_prediction

pytestmark = pytest.mark.postgres

# The token with its user; the project with the caller's role; BEGIN; expired leases returned; the
# labeller's own crops; crops waiting for a second label; the open queue's head claimed; COMMIT;
# the crop with whether it has tags, an annotation, predictions. PostgreSQL adds the labeller's
# membership locked; SQLite reads the head, then claims it.
NEXT_STATEMENTS = 10


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_next_from_the_open_queue_costs_ten_statements(labeller, project, django_assert_max_num_queries):
    crops = make_crops(project, 3)
    client = token_client(labeller)
    with django_assert_max_num_queries(NEXT_STATEMENTS) as queries:
        response = client.post(f"/api/projects/{project.id}/next/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["rank"], body["status"]) == (crops[0].id, 1, "leased")
    assert (body["tags"], body["current_annotation"], body["prediction"], body["blind"]) == ([], None, None, False)
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    claims = [sql for sql in updates if "'leased'" in sql.split(" WHERE ")[0]]  # SET status = 'leased'
    assert len(updates) == 2  # expired leases returned, then the claim
    assert len(claims) == 1
    if connection.vendor == "postgresql":
        assert "SKIP LOCKED" in claims[0] and "RETURNING" in claims[0]


def test_next_serves_a_crop_with_its_tags_annotation_and_prediction(labeller, admin, project):
    """A crop returned to its labeller (assigned to them, its annotation kept) has all three."""
    crop = make_crops(project, 2)[1]
    make_annotation(crop, labeller)
    Crop.objects.filter(pk=crop.pk).update(status="unlabelled", assigned_to=labeller)
    crop.tags.add(Tag.objects.create(project=project, name="blurry"), Tag.objects.create(project=project, name="a"))
    make_prediction(crop, make_model_version(project, 1, status="archived"))
    make_prediction(crop, make_model_version(project, 2))
    body = token_client(labeller).post(f"/api/projects/{project.id}/next/").json()
    assert body["id"] == crop.id
    assert body["tags"] == ["a", "blurry"]
    assert body["current_annotation"]["author"] == labeller.id
    assert body["prediction"]["model_version"]["number"] == 2  # the active version's, not the newest


def test_the_claimed_crop_is_leased_to_the_caller(labeller, project):
    crops = make_crops(project, 2)
    body = token_client(labeller).post(f"/api/projects/{project.id}/next/").json()
    crop = Crop.objects.get(pk=body["id"])
    assert (crop.pk, crop.status, crop.leased_by_id) == (crops[0].pk, "leased", labeller.pk)
    assert crop.lease_expires_at is not None and body["lease_expires_at"] is not None
