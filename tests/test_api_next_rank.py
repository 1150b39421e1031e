"""`rank` in the crop the labeller is served (POST /api/projects/{id}/next/) and in crop details:
the crop's place in the open queue of its split (1 = first), null outside the queue."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from drf_spectacular.generators import SchemaGenerator

from active_learning.queue import serving
from annotations.masks import encode_rle
from annotations.models import Crop, Split
from tests.factories import add_member, client_for, make_crops, make_image, make_user, true_mask

# The COUNT must give the same answer on PostgreSQL (`make test` runs these there again).
pytestmark = pytest.mark.postgres


def next_crop(client, project, **body) -> dict:
    response = client.post(f"/api/projects/{project.id}/next/", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def validation_crops(project, n: int) -> list[Crop]:
    image = make_image(project, source=1, crop_size=32, n_crops=n, split=Split.VALIDATION)
    return list(image.crops.order_by("id"))


@pytest.fixture
def crops(project):
    """Eight waiting train crops ranked by score: crops[0] best (0.8), crops[7] last (0.1)."""
    crops = make_crops(project, 8)
    for i, crop in enumerate(crops):
        Crop.objects.filter(pk=crop.pk).update(queue_score=(8 - i) / 10)
    return crops


def test_the_served_crop_is_first_in_the_queue(labeller_client, project, crops):
    body = next_crop(labeller_client, project)
    assert (body["id"], body["rank"]) == (crops[0].id, 1)


def test_a_crop_another_labeller_holds_is_not_ahead(labeller_client, project, crops):
    other = make_user("olga")
    add_member(project, other)
    assert next_crop(client_for(other), project)["id"] == crops[0].id
    body = next_crop(labeller_client, project)
    assert (body["id"], body["rank"]) == (crops[1].id, 1)


def test_a_held_crop_served_again_counts_what_was_put_ahead_of_it_since(labeller_client, admin_client, project,
                                                                        crops):
    assert next_crop(labeller_client, project)["rank"] == 1
    admin_client.post(f"/api/projects/{project.id}/queue/crops/", {"action": "pin", "crop_ids": [crops[6].id]},
                      format="json")
    Crop.objects.filter(pk=crops[7].pk).update(priority=2)
    body = next_crop(labeller_client, project)  # the same crop, lease renewed
    assert (body["id"], body["rank"]) == (crops[0].id, 3)


def test_rank_follows_the_queue_order_for_every_crop(labeller_client, project, crops):
    """Pins, then priority, then score, then age (ties): every waiting crop's rank is its place in
    serving.open_queue, the order `next` serves."""
    Crop.objects.filter(pk=crops[5].pk).update(pinned=True, priority=-3)
    Crop.objects.filter(pk=crops[6].pk).update(priority=1)
    Crop.objects.filter(pk=crops[7].pk).update(priority=1)
    Crop.objects.filter(pk__in=[crops[2].pk, crops[3].pk]).update(queue_score=0.75)  # a tie: the older first
    Crop.objects.filter(pk=crops[4].pk).update(priority=-1)
    order = list(serving.open_queue(project=project).values_list("id", flat=True))
    assert order == [crops[i].id for i in (5, 6, 7, 0, 2, 3, 1, 4)]
    for place, crop_id in enumerate(order, start=1):
        assert labeller_client.get(f"/api/crops/{crop_id}/").json()["rank"] == place


def test_only_waiting_unassigned_crops_of_the_same_split_are_ahead(labeller, labeller_client, project, crops):
    validation = validation_crops(project, 2)
    Crop.objects.filter(pk__in=[c.pk for c in validation]).update(queue_score=0.95)
    other = make_user("olga")
    add_member(project, other)
    Crop.objects.filter(pk=crops[0].pk).update(assigned_to=other)  # served to olga only
    Crop.objects.filter(pk=crops[1].pk).update(status="skipped")
    body = next_crop(labeller_client, project)
    assert (body["id"], body["rank"]) == (crops[2].id, 1)


def test_a_crop_assigned_to_me_is_ranked_among_the_open_queue(labeller, labeller_client, project, crops):
    Crop.objects.filter(pk=crops[3].pk).update(assigned_to=labeller)  # served first, ranked 4th
    body = next_crop(labeller_client, project)
    assert (body["id"], body["rank"]) == (crops[3].id, 4)


def test_validation_crops_are_ranked_within_their_split(admin_client, project, crops):
    validation = validation_crops(project, 3)
    for i, crop in enumerate(validation):
        Crop.objects.filter(pk=crop.pk).update(queue_score=0.3 - i / 10)
    body = next_crop(admin_client, project, split="validation")
    assert (body["id"], body["rank"]) == (validation[0].id, 1)
    assert admin_client.get(f"/api/crops/{validation[2].id}/").json()["rank"] == 2  # validation[0] is leased


def test_a_crop_leased_for_correction_has_no_rank(labeller_client, project, crops):
    crop = Crop.objects.get(pk=next_crop(labeller_client, project)["id"])
    mask = {"mask": encode_rle(true_mask(crop))}
    assert labeller_client.post(f"/api/crops/{crop.id}/annotations/", mask, format="json").status_code == 201
    body = labeller_client.post(f"/api/crops/{crop.id}/lease/").json()
    assert (body["status"], body["rank"]) == ("labelled", None)


def test_rank_costs_one_count_over_the_queue_index(project, crops):
    crop = Crop.objects.get(pk=crops[4].pk)
    with CaptureQueriesContext(connection) as queries:
        assert serving.queue_rank(crop) == 5
    assert len(queries) == 1 and "COUNT(" in queries[0]["sql"].upper()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + queries[0]["sql"])
            plan = [row[-1] for row in cursor.fetchall()]
        searches = [step for step in plan if step.startswith(("SEARCH", "SCAN annotations_crop"))]
        assert len(searches) == 4 and all("USING INDEX crop_queue_order" in step for step in searches), plan


def test_the_schema_documents_rank(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    rank = schema["components"]["schemas"]["CropDetailOutput"]["properties"]["rank"]
    assert rank["type"] == "integer" and rank["nullable"] is True
    assert "open queue" in rank["description"]

