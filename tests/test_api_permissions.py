"""The permission matrix: every endpoint, as a project admin, a labeller, an outsider (admin of
another project) and an anonymous client. Outsiders never learn that another project's objects
exist (404); labellers get 403 on admin and review operations; anonymous clients are refused
(401/403)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from active_learning.models import Sweep, SweepKind
from annotations.masks import encode_rle
from annotations.models import Role
from tests.factories import add_member, client_for, make_annotation, make_crops, make_user, true_mask

ANON = (401, 403)


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # formatted with the world below
    admin: int
    labeller: int
    outsider: int
    body: Any = None
    format: str = "json"


MATRIX = [
    Row("get", "/api/me/", 200, 200, 200),
    Row("get", "/api/projects/", 200, 200, 200),
    Row("post", "/api/projects/", 403, 403, 403, {"name": "new"}),
    Row("get", "/api/projects/{project}/", 200, 200, 404),
    Row("patch", "/api/projects/{project}/", 200, 403, 404, {"crop_size": 128}),
    Row("get", "/api/projects/{project}/members/", 200, 403, 404),
    Row("post", "/api/projects/{project}/members/", 201, 403, 404, {"username": "otto"}),
    Row("patch", "/api/projects/{project}/members/{labeller}/", 200, 403, 404, {"role": "admin"}),
    Row("delete", "/api/projects/{project}/members/{labeller}/", 204, 403, 404),
    Row("get", "/api/projects/{project}/images/", 200, 200, 404),
    Row("post", "/api/projects/{project}/images/", 400, 403, 404, {}, "multipart"),  # 400: no file sent
    Row("get", "/api/images/{image}/", 200, 200, 404),
    Row("patch", "/api/images/{image}/", 200, 403, 404, {"split": "validation"}),
    Row("get", "/api/images/{image}/file/", 200, 200, 404),  # the original, as stored
    Row("get", "/api/projects/{project}/crops/", 200, 200, 404),
    Row("get", "/api/crops/{crop}/display/", 200, 200, 404),  # the editor's display PNG
    Row("get", "/api/crops/{crop}/", 200, 200, 404),
    Row("patch", "/api/crops/{crop}/", 200, 403, 404, {"pinned": True}),
    Row("get", "/api/crops/{crop}/annotations/", 200, 200, 404),
    Row("post", "/api/crops/{crop}/annotations/", 409, 409, 404, "mask"),  # 409: no lease held
    Row("post", "/api/projects/{project}/next/", 200, 200, 404),
    Row("post", "/api/crops/{crop}/lease/", 200, 200, 404),
    Row("post", "/api/crops/{crop}/skip/", 409, 409, 404),  # 409: no lease held
    Row("post", "/api/crops/{crop}/release/", 409, 409, 404),
    Row("post", "/api/crops/{crop}/propose/", 409, 409, 404, {"mode": "point", "x": 1, "y": 1}),  # 409: no lease
    Row("get", "/api/projects/{project}/reviews/", 200, 403, 404),
    Row("post", "/api/annotations/{annotation}/review/", 200, 403, 404, {"action": "accept"}),
    Row("get", "/api/workers/", 200, 403, 200),  # the outsider administers another project
    Row("get", "/api/projects/{project}/sweeps/", 200, 403, 404),
    Row("post", "/api/projects/{project}/sweeps/", 409, 403, 404, {"n_trials": 2}),  # 409: no validation labels
    Row("get", "/api/projects/{project}/sweeps/search-space/", 200, 403, 404),
    Row("get", "/api/sweeps/{sweep}/", 200, 403, 404),
    Row("post", "/api/sweeps/{sweep}/cancel/", 200, 403, 404),
    Row("post", "/api/sweeps/{sweep}/resume/", 200, 403, 404),  # running with no job alive: stalled
    Row("post", "/api/sweeps/{sweep}/adopt/", 409, 403, 404),  # 409: a subsample study has no settings to adopt
]


@pytest.fixture
def world(project, admin, labeller, outsider) -> dict[str, Any]:
    crop, labelled = make_crops(project, 2)
    annotation = make_annotation(labelled, labeller)
    sweep = Sweep.objects.create(project=project, kind=SweepKind.SUBSAMPLE, n_trials=3,
                                 search_space={"fractions": [0.5, 0.75, 1.0], "seeds": [0]})
    return {"project": project.id, "labeller": labeller.id, "image": crop.image_id, "crop": crop.id, "_crop": crop,
            "annotation": annotation.id, "sweep": sweep.id}


def call(client, row: Row, world: dict[str, Any]):
    body = {"mask": encode_rle(true_mask(world["_crop"]))} if row.body == "mask" else row.body
    return getattr(client, row.method)(row.path.format(**world), body, format=row.format)


@pytest.mark.parametrize("actor", ["admin", "labeller", "outsider", "anonymous"])
@pytest.mark.parametrize("row", MATRIX, ids=lambda row: f"{row.method} {row.path}")
def test_it_answers_each_actor_as_the_matrix_says(row, actor, world, request):
    user = None if actor == "anonymous" else request.getfixturevalue(actor)
    response = call(client_for(user), row, world)
    expected = ANON if actor == "anonymous" else (getattr(row, actor),)
    assert response.status_code in expected, response.content


def test_it_lets_staff_administer_any_project(staff, world):
    client = client_for(staff)
    assert client.post("/api/projects/", {"name": "new"}, format="json").status_code == 201
    assert client.patch(f"/api/projects/{world['project']}/", {"crop_size": 64}, format="json").status_code == 200
    assert client.get(f"/api/projects/{world['project']}/members/").status_code == 200


def test_it_lets_a_reviewer_review_what_a_labeller_cannot(project, world):
    reviewer = make_user("rita")
    add_member(project, reviewer, Role.REVIEWER)
    client = client_for(reviewer)
    assert client.get(f"/api/projects/{world['project']}/reviews/").status_code == 200
    body = {"action": "accept"}
    assert client.post(f"/api/annotations/{world['annotation']}/review/", body, format="json").status_code == 200
    assert client.patch(f"/api/projects/{world['project']}/", {"crop_size": 64}, format="json").status_code == 403


def test_it_hides_other_projects_from_listings(outsider_client, world):
    names = [p["name"] for p in outsider_client.get("/api/projects/").json()["results"]]
    assert names == ["other"]
