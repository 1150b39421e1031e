"""The server-rendered pages: who may open which, and what they show."""

from __future__ import annotations

import pytest
from django.test import Client

from active_learning.models import ModelVersionStatus
from annotations.masks import encode_png
from annotations.models import Annotation, CropStatus
from frontend.charts import learning_curve_chart, nice_step
from tests.factories import PASSWORD, make_annotation, make_crops, make_model_version, true_mask

ADMIN_PAGES = ["project-overview", "project-queue", "project-training", "project-upload", "project-export",
               "project-labellers", "project-settings"]


def browser_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def url(name: str, project) -> str:
    """"project-queue" -> /projects/1/queue/, "label" -> /projects/1/label/."""
    return f"/projects/{project.pk}/{name.removeprefix('project-')}/"


@pytest.fixture
def crops(project):
    return make_crops(project, 4, crop_size=64)


# --- Who may open what -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/projects/1/label/", "/projects/1/overview/", "/projects/1/queue/"])
def test_it_sends_anonymous_visitors_to_the_login_page(path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/accounts/login/?next={path}")


@pytest.mark.django_db
def test_it_styles_the_login_page():
    response = Client().get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content and b'name="password"' in response.content
    assert b"frontend/admin/site.css" in response.content


def test_it_logs_in_through_the_form_and_lands_on_the_project_list(labeller):
    client = Client()
    response = client.post("/accounts/login/", {"username": "lee", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert b"Your projects" in response.content


def test_it_says_so_when_the_password_is_wrong(labeller):
    response = Client().post("/accounts/login/", {"username": "lee", "password": "nope"})
    assert b"do not match" in response.content


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_it_refuses_admin_pages_to_labellers(name, project, labeller):
    response = browser_for(labeller).get(url(name, project))
    assert response.status_code == 403
    assert b"Only an admin of this project can see this page." in response.content


@pytest.mark.parametrize("name", [*ADMIN_PAGES, "label"])
def test_it_hides_another_projects_pages(name, project, outsider):
    assert browser_for(outsider).get(url(name, project)).status_code == 404


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_it_shows_admin_pages_to_project_admins_and_staff(name, project, admin, staff, crops):
    for user in (admin, staff):
        response = browser_for(user).get(url(name, project))
        assert response.status_code == 200, (user, name)
        assert f'data-project-id="{project.pk}"'.encode() in response.content


# --- Project list and labelling page -------------------------------------------------------------


def test_it_lists_only_my_projects_with_start_buttons(project, other_project, labeller, crops):
    response = browser_for(labeller).get("/")
    body = response.content.decode()
    assert project.name in body and other_project.name not in body
    assert f'href="/projects/{project.pk}/label/"' in body and "Start labelling" in body
    assert f"/projects/{project.pk}/overview/" not in body  # no admin links for labellers
    assert "<b>4</b> waiting" in body


def test_it_shows_admin_links_to_project_admins(project, admin):
    body = browser_for(admin).get("/").content.decode()
    for name in ADMIN_PAGES:
        assert url(name, project) in body


def test_it_mounts_the_editor_on_the_labelling_page_with_a_csrf_cookie(project, labeller):
    response = browser_for(labeller).get(f"/projects/{project.pk}/label/")
    body = response.content.decode()
    assert f'data-labeller data-project-id="{project.pk}"' in body
    assert "frontend/editor/editor.css" in body
    assert '<script type="module" src="/static/frontend/editor/main.js">' in body
    assert "csrftoken" in response.cookies


# --- Admin pages' content -----------------------------------------------------------------------


def _labelled(crop, user, *, seconds: float, edits: dict[str, int], reason: str = "strategy:combined") -> None:
    mask = true_mask(crop)
    Annotation.objects.create(crop=crop, version=1, author=user, mask_png=encode_png(mask), n_cells=int(mask.max()),
                              seconds_spent=seconds, edit_counts=edits, queue_reason=reason)
    crop.status = CropStatus.LABELLED
    crop.save(update_fields=["status"])


def test_it_shows_counts_active_version_and_learning_curve_on_the_overview(project, admin, labeller, crops):
    v1 = make_model_version(project, 1, ModelVersionStatus.RETIRED)
    v1.metrics, v1.n_train_cells = {"ap50": 0.41}, 0
    v1.save()
    v2 = make_model_version(project, 2)
    v2.metrics, v2.n_train_cells, v2.n_train_crops = {"ap50": 0.63, "ap75": 0.4}, 120, 3
    v2.save()
    _labelled(crops[0], labeller, seconds=30, edits={"delete": 2})
    _labelled(crops[1], labeller, seconds=10, edits={}, reason="random-control")

    body = browser_for(admin).get(f"/projects/{project.pk}/overview/").content.decode()

    assert '<tr data-split="train"><th>train</th><td>2</td><td>0</td><td>2</td><td>0</td><td>4</td></tr>' in body
    assert 'class="ap50">0.630<' in body and "Version <b>2</b>" in body
    assert body.count('<g class="point') == 2 and '<g class="point active" data-version="2">' in body
    assert 'data-group="random-control"' in body and 'data-group="ranked"' in body
    # Actions per cell, ranked against random: 2 deletes over crop 0's cells, none over crop 1's.
    ranked_cells, random_cells = int(true_mask(crops[0]).max()), int(true_mask(crops[1]).max())
    assert f'title="2 actions over {ranked_cells} cells">{2 / ranked_cells:.2f}<' in body
    assert f"Ranked crops took {2 / ranked_cells:.2f} actions per cell (2 over {ranked_cells} cells), random ones " \
           f"0.00 (0 over {random_cells})." in body


def test_it_says_what_is_missing_on_an_empty_overview(project, admin):
    body = browser_for(admin).get(f"/projects/{project.pk}/overview/").content.decode()
    assert "No crops yet" in body and "No active model yet" in body and "No evaluated model version yet" in body


def test_the_training_page_lists_the_model_jobs_only(project, admin):
    body = browser_for(admin).get(url("project-training", project)).content.decode()
    kinds = body.split('id="jobs" data-kinds="')[1].split('"')[0].split(",")
    assert {"train", "predict"} <= set(kinds) and not {"ingest", "import", "export"} & set(kinds)


def test_the_export_page_offers_every_format_and_the_active_version_once_there_is_one(project, admin):
    body = browser_for(admin).get(url("project-export", project)).content.decode()
    for name in ("cellpose", "tiff", "coco", "geojson"):
        assert f'name="format" value="{name}"' in body
    assert 'value="active" disabled' in body and "(none yet)" in body
    make_model_version(project, 3)
    body = browser_for(admin).get(url("project-export", project)).content.decode()
    assert 'value="active">the active version (v3)' in body
    assert "frontend/admin/export.js" in body


def test_it_lists_every_member_on_the_labellers_page(project, admin, labeller, crops):
    _labelled(crops[0], labeller, seconds=42, edits={"lasso": 3})
    body = browser_for(admin).get(f"/projects/{project.pk}/labellers/").content.decode()
    assert '<tr data-username="lee">' in body and '<tr data-username="ada">' in body
    assert "42 s" in body


def test_it_gives_the_queue_page_its_filters_and_members(project, admin, labeller, crops):
    response = browser_for(admin).get(f"/projects/{project.pk}/queue/")
    page = response.context["page"]
    assert [m["name"] for m in page["labellers"]] == ["lee"]
    assert len(page["images"]) == 1
    assert 'id="queue-page"' in response.content.decode()


# --- The learning curve's geometry -----------------------------------------------------------------


@pytest.mark.parametrize(("span", "step"), [(0, 1), (7, 2), (120, 50), (950, 200), (1000, 200), (4100, 1000)])
def test_it_picks_round_tick_steps(span, step):
    assert nice_step(span) == step


def test_it_places_points_by_cells_and_ap():
    curve = [
        {"id": 1, "number": 1, "ap50": 0.5, "n_train_cells": 0},
        {"id": 2, "number": 2, "ap50": 1.0, "n_train_cells": 200},
        {"id": 3, "number": 3, "ap50": None, "n_train_cells": 300},
    ]
    chart = learning_curve_chart(curve, active_id=2)
    assert chart is not None
    first, second = chart.points
    assert (first.x, second.x) == (chart.left, chart.right)
    assert second.y == chart.top and first.y == (chart.top + chart.bottom) / 2
    assert second.is_active and not first.is_active
    assert [t.label for t in chart.x_ticks] == ["0", "50", "100", "150", "200"]
    assert learning_curve_chart([]) is None


# --- Review -------------------------------------------------------------------------------------------


def test_it_shows_the_review_page_to_reviewers_without_the_admin_tabs(project, reviewer, admin):
    body = browser_for(reviewer).get(f"/projects/{project.pk}/review/").content.decode()
    assert 'id="review-table"' in body and "/static/frontend/admin/review.js" in body
    assert f'href="/projects/{project.pk}/label/?review=newest"' in body
    assert url("project-queue", project) not in body  # a reviewer is no admin
    admin_body = browser_for(admin).get(f"/projects/{project.pk}/review/").content.decode()
    assert url("project-queue", project) in admin_body and 'aria-current="page">Review</a>' in admin_body


def test_it_refuses_review_to_labellers_and_hides_it_from_outsiders(project, labeller, outsider):
    for path in (f"/projects/{project.pk}/review/", f"/projects/{project.pk}/label/?review=newest"):
        assert browser_for(labeller).get(path).status_code == 403, path
        assert browser_for(outsider).get(path).status_code == 404, path


def test_it_links_reviewers_to_the_review_page_from_the_project_list_and_the_label_page(project, reviewer, labeller):
    review_link = f'href="/projects/{project.pk}/review/"'
    assert review_link in browser_for(reviewer).get("/").content.decode()
    assert review_link in browser_for(reviewer).get(f"/projects/{project.pk}/label/").content.decode()
    assert review_link not in browser_for(labeller).get("/").content.decode()
    assert review_link not in browser_for(labeller).get(f"/projects/{project.pk}/label/").content.decode()


def test_it_mounts_the_editor_in_review_mode_on_the_annotation_asked_for(project, other_project, reviewer, labeller,
                                                                         crops):
    annotation = make_annotation(crops[0], labeller)
    client = browser_for(reviewer)
    body = client.get(f"/projects/{project.pk}/label/?review=difference&annotation={annotation.pk}").content.decode()
    assert (f'data-review-order="difference" data-annotation-id="{annotation.pk}" '
            f'data-crop-id="{crops[0].pk}"') in body
    elsewhere = make_crops(other_project, 1, crop_size=64)[0]
    foreign = make_annotation(elsewhere, labeller)
    for wanted in ("999999", "x", "9" * 40, "\u00b2", str(foreign.pk)):
        assert client.get(f"/projects/{project.pk}/label/?review=newest&annotation={wanted}").status_code == 404, wanted
