"""The admin queue API: /api/projects/<id>/queue/ (listing), queue/crops/ (batch actions),
queue/focus/, queue/settings/ and queue/rank/. Admins only: labellers get 403, outsiders 404."""

from __future__ import annotations

import pytest
from django.utils import timezone

from active_learning.models import CropScore
from active_learning.queue import curation, ranking, serving
from active_learning.scoring import DESCRIPTOR
from annotations.models import Crop, CropStatus, Split
from tests.factories import make_crops, make_model_version


@pytest.fixture
def crops(project):
    project.strategy, project.random_fraction = "cellprob", 0.0
    project.save()
    return make_crops(project, 12, crop_size=64)


@pytest.fixture
def ranked(project, crops):
    version = make_model_version(project, 3)
    version.promoted_at = timezone.now()
    version.save()
    CropScore.objects.bulk_create(
        [CropScore(crop=c, model_version=version, strategy="cellprob", score=1 - i / 20) for i, c in enumerate(crops)]
        + [CropScore(crop=c, model_version=version, strategy=DESCRIPTOR, score=1.0) for c in crops]
    )
    ranking.rank_queue(project)
    return crops


def url(project, tail: str = "") -> str:
    return f"/api/projects/{project.pk}/queue/{tail}"


# --- Who may see and change the queue --------------------------------------------------------------


@pytest.mark.parametrize("tail", ["", "settings/"])
def test_it_shows_the_queue_to_admins_only(project, crops, tail, admin_client, labeller_client, outsider_client,
                                           anon_client):
    assert admin_client.get(url(project, tail)).status_code == 200
    assert labeller_client.get(url(project, tail)).status_code == 403
    assert outsider_client.get(url(project, tail)).status_code == 404
    assert anon_client.get(url(project, tail)).status_code in (401, 403)


def test_it_lets_only_admins_act_on_the_queue(project, crops, labeller_client, outsider_client):
    body = {"action": "pin", "crop_ids": [crops[0].pk]}
    assert labeller_client.post(url(project, "crops/"), body, format="json").status_code == 403
    assert outsider_client.post(url(project, "crops/"), body, format="json").status_code == 404
    assert labeller_client.post(url(project, "rank/")).status_code == 403
    assert not Crop.objects.filter(pinned=True).exists()


# --- The listing -------------------------------------------------------------------------------------


def test_it_lists_the_ranked_queue_with_rank_score_reason_and_version(project, ranked, admin_client):
    page = admin_client.get(url(project), {"limit": 5}).json()
    assert page["count"] == 12 and page["strategy"] == "cellprob" and page["model_version"] == 3
    first = page["results"][0]
    assert [e["rank"] for e in page["results"]] == [1, 2, 3, 4, 5]
    assert [e["crop"] for e in page["results"]] == [c.pk for c in ranked[:5]]
    assert first["reason"] == "strategy:cellprob" and first["scores"] == {"cellprob": 1.0}
    assert first["queue_score"] == 1.0 and first["model_version"] == 3
    assert first["display_url"] == f"/api/crops/{first['crop']}/display/"


def test_it_shows_who_holds_a_lease_and_why_a_crop_moved_up(project, ranked, admin_client, labeller):
    serving.lease_next_crop(project=project, user=labeller)
    curation.apply_action(project, "pin", [ranked[5].pk])
    curation.apply_action(project, "boost", [ranked[6].pk], priority=3)
    results = admin_client.get(url(project)).json()["results"]
    assert [(e["crop"], e["reason"]) for e in results[:3]] == [
        (ranked[5].pk, "pinned"), (ranked[6].pk, "boost:3"), (ranked[0].pk, "strategy:cellprob")
    ]
    leased = results[2]
    assert leased["status"] == CropStatus.LEASED and leased["leased_by_name"] == "lee"
    assert leased["lease_expires_at"] is not None


def test_it_pages_and_filters_the_listing(project, ranked, admin_client):
    page = admin_client.get(url(project), {"offset": 10, "limit": 5}).json()
    assert [e["rank"] for e in page["results"]] == [11, 12]
    curation.apply_action(project, "tag", [ranked[3].pk], tags=["dim"])
    tagged = admin_client.get(url(project), {"tag": "dim"}).json()
    assert tagged["count"] == 1 and tagged["results"][0]["tags"] == ["dim"]
    assert admin_client.get(url(project), {"split": Split.VALIDATION}).json()["count"] == 0
    assert admin_client.get(url(project), {"limit": 0}).status_code == 400


# --- Batch actions -----------------------------------------------------------------------------------


def act(client, project, **body):
    return client.post(url(project, "crops/"), body, format="json")


def test_it_pins_boosts_buries_and_resets_crops(project, ranked, admin_client):
    ids = [ranked[4].pk, ranked[5].pk]
    assert act(admin_client, project, action="pin", crop_ids=ids).json()["changed"] == 2
    assert act(admin_client, project, action="bury", crop_ids=[ranked[0].pk], priority=4).json()["changed"] == 1
    assert Crop.objects.get(pk=ranked[0].pk).priority == -4
    act(admin_client, project, action="reset_priority", crop_ids=[ranked[0].pk])
    assert Crop.objects.get(pk=ranked[0].pk).priority == 0
    assert set(Crop.objects.filter(pinned=True).values_list("id", flat=True)) == set(ids)


def test_it_acts_on_the_top_of_the_queue(project, ranked, admin_client, labeller):
    answer = act(admin_client, project, action="assign", top=3, user_id=labeller.pk).json()
    assert answer["crop_ids"] == [c.pk for c in ranked[:3]] and answer["changed"] == 3
    assert set(Crop.objects.filter(assigned_to=labeller).values_list("id", flat=True)) == set(answer["crop_ids"])


def test_it_skips_and_requeues_crops(project, ranked, admin_client):
    act(admin_client, project, action="skip", crop_ids=[ranked[0].pk])
    assert Crop.objects.get(pk=ranked[0].pk).status == CropStatus.SKIPPED
    assert admin_client.get(url(project)).json()["results"][0]["crop"] == ranked[1].pk
    act(admin_client, project, action="requeue", crop_ids=[ranked[0].pk])
    assert Crop.objects.get(pk=ranked[0].pk).status == CropStatus.UNLABELLED


def test_it_tags_and_untags_a_batch(project, ranked, admin_client):
    act(admin_client, project, action="tag", crop_ids=[ranked[0].pk, ranked[1].pk], tags=["edge", "dim"])
    assert sorted(Crop.objects.get(pk=ranked[1].pk).tags.values_list("name", flat=True)) == ["dim", "edge"]
    act(admin_client, project, action="untag", crop_ids=[ranked[1].pk], tags=["edge"])
    assert list(Crop.objects.get(pk=ranked[1].pk).tags.values_list("name", flat=True)) == ["dim"]


@pytest.mark.parametrize(
    "body, message",
    [
        ({"action": "pin"}, "send either crop_ids or top"),
        ({"action": "pin", "crop_ids": [1], "top": 2}, "send either crop_ids or top"),
        ({"action": "explode", "crop_ids": [1]}, "is not a valid choice"),
        ({"action": "assign", "crop_ids": [1]}, "assign needs user_id"),
        ({"action": "tag", "crop_ids": [1]}, "tag needs tags"),
        ({"action": "boost", "crop_ids": [1], "priority": 0}, "priority other than 0"),
    ],
)
def test_it_refuses_a_malformed_action_with_400(project, crops, admin_client, body, message):
    response = act(admin_client, project, **body)
    assert response.status_code == 400 and message in str(response.json())


def test_it_refuses_to_assign_crops_to_a_non_member(project, crops, admin_client, outsider):
    response = act(admin_client, project, action="assign", crop_ids=[crops[0].pk], user_id=outsider.pk)
    assert response.status_code == 400 and "not a member" in response.json()["detail"]


def test_it_only_touches_crops_of_its_own_project(project, other_project, crops, admin_client):
    foreign = make_crops(other_project, 1, crop_size=64)[0]
    assert act(admin_client, project, action="pin", crop_ids=[foreign.pk]).json()["changed"] == 0
    assert not Crop.objects.get(pk=foreign.pk).pinned


# --- Focus, settings, ranking ----------------------------------------------------------------------


def test_it_focuses_the_queue_on_an_image(project, ranked, admin_client):
    image = ranked[-1].image_id
    response = admin_client.post(url(project, "focus/"), {"image": image}, format="json")
    assert response.json()["changed"] == 12  # every crop here comes from one image
    assert admin_client.get(url(project)).json()["results"][0]["reason"] == f"boost:{curation.FOCUS_PRIORITY}"
    admin_client.post(url(project, "focus/"), {"image": image, "priority": 0}, format="json")
    assert not Crop.objects.filter(priority__gt=0).exists()
    assert admin_client.post(url(project, "focus/"), {}, format="json").status_code == 400


def test_it_shows_and_changes_the_strategy_and_random_fraction(project, ranked, admin_client):
    shown = admin_client.get(url(project, "settings/")).json()
    assert shown["strategy"] == "cellprob" and "combined" in shown["strategies"]
    assert shown["ranked_with_version"] == 3
    changed = admin_client.put(url(project, "settings/"), {"strategy": "random", "random_fraction": 0.2},
                               format="json").json()
    assert changed["strategy"] == "random" and changed["random_fraction"] == 0.2
    assert changed["ranking"]["by_reason"] == {"strategy:random": 12}


def test_it_refuses_an_unknown_strategy_or_fraction(project, crops, admin_client):
    response = admin_client.put(url(project, "settings/"), {"strategy": "vibes"}, format="json")
    assert response.status_code == 400 and "unknown strategy" in response.json()["detail"]
    assert admin_client.put(url(project, "settings/"), {"random_fraction": 1.5}, format="json").status_code == 400
    project.refresh_from_db()
    assert project.strategy == "cellprob"


def test_it_ranks_the_queue_on_request(project, crops, admin_client):
    summary = admin_client.post(url(project, "rank/")).json()
    assert summary["ranked"] == 12 and summary["by_reason"] == {ranking.REASON_COLD_START: 12}
    assert summary["model_version"] is None


def test_its_openapi_schema_is_valid_and_generated_without_warnings(db):
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    assert not GENERATOR_STATS._error_cache and not GENERATOR_STATS._warn_cache
    assert "/api/projects/{project_id}/queue/crops/" in schema["paths"]
