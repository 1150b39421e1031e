"""The settings page (/projects/{id}/settings/): the project's settings form and its members.

Real requests through Django's test client, with the CSRF check on where it matters; the page
must refuse exactly what the REST API refuses and change things through the same services.
"""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.test import Client
from django.utils import timezone

from active_learning.models import CropScore
from active_learning.scoring import DESCRIPTOR
from active_learning.strategies import DEFAULT_STRATEGY, STRATEGIES
from annotations.models import Crop, CropStatus, Membership, Project, Role
from tests.factories import add_member, client_for, make_crops, make_model_version, make_user


def browser_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_url(project) -> str:
    return f"/projects/{project.pk}/settings/"


def form(project, **changes) -> dict[str, str]:
    """What the settings form posts when nothing is edited, with `changes` typed in."""
    fields = {
        "name": project.name, "description": project.description,
        "display_channels": ", ".join(map(str, project.display_channels)),
        "model_channels": ", ".join(map(str, project.model_channels)),
        "crop_size": str(project.crop_size), "crop_overlap": str(project.crop_overlap),
        "validation_fraction": str(project.validation_fraction), "backend": project.backend,
        "backend_settings": json.dumps(project.backend_settings), "strategy": project.strategy,
        "random_fraction": str(project.random_fraction),
        "retrain_after_annotations": str(project.retrain_after_annotations),
        "training_uses": project.training_uses,
    }
    return {**fields, **changes}


def text(response) -> str:
    return unescape(response.content.decode())


def problems_after(body: str, field: str) -> list[str]:
    """The problems listed for the form control named `field`, after it in the same section."""
    at = body.index(f'name="{field}"')
    match = re.compile(rf'<ul class="problems" data-for="{field}" role="alert">(.*?)</ul>', re.S).search(body, at)
    assert match is not None, f"no problems listed after {field}"
    assert "<section" not in body[at:match.start()], f"the problems of {field} are in another section"
    return re.findall(r"<li>(.*?)</li>", match.group(1))


@pytest.fixture
def crops(project):
    return make_crops(project, 12, crop_size=64)


@pytest.fixture
def ranked(project, crops):
    """The crops scored by a served model version and ranked by cellprob, no control group."""
    Project.objects.filter(pk=project.pk).update(strategy="cellprob", random_fraction=0.0)
    project.refresh_from_db()
    version = make_model_version(project, 3)
    version.promoted_at = timezone.now()
    version.save()
    CropScore.objects.bulk_create(
        [CropScore(crop=c, model_version=version, strategy="cellprob", score=1 - i / 20) for i, c in enumerate(crops)]
        + [CropScore(crop=c, model_version=version, strategy=DESCRIPTOR, score=1.0) for c in crops]
    )
    from active_learning.queue.ranking import rank_queue
    rank_queue(project)
    return crops


def reasons(project) -> set[str]:
    return set(Crop.objects.filter(project=project).values_list("queue_reason", flat=True))


# --- Who may open and post ------------------------------------------------------------------------


def test_it_shows_the_settings_to_project_admins_and_staff(project, admin, staff):
    for user in (admin, staff):
        response = browser_for(user).get(page_url(project))
        assert response.status_code == 200
        body = text(response)
        assert 'aria-current="page">Settings</a>' in body
        assert f'name="name" value="{project.name}"' in body
        assert f'<option value="{DEFAULT_STRATEGY}" selected>' in body
        assert all(f'<option value="{name}"' in body for name in STRATEGIES)


def test_labellers_get_403_and_outsiders_404_on_every_form(project, admin, labeller, outsider):
    posts = [page_url(project), f"{page_url(project)}members/", f"{page_url(project)}members/{admin.pk}/"]
    for path in posts:
        assert browser_for(labeller).post(path, {"name": "taken over", "username": "lee", "role": "admin",
                                                 "action": "remove"}).status_code == 403
        assert browser_for(outsider).post(path, {"name": "taken over"}).status_code == 404
    assert browser_for(labeller).get(page_url(project)).status_code == 403
    assert browser_for(outsider).get(page_url(project)).status_code == 404
    assert Project.objects.get(pk=project.pk).name == "nuclei"
    assert Membership.objects.get(project=project, user=labeller).role == Role.LABELLER
    assert Membership.objects.filter(project=project, user=admin).exists()


def test_anonymous_visitors_are_sent_to_log_in(project):
    response = Client().post(page_url(project), {"name": "x"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_forms_need_the_csrf_token(project, admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post(page_url(project), form(project, name="no token")).status_code == 403
    page = client.get(page_url(project))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = client.post(page_url(project), {**form(project, name="with token"), "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Project.objects.get(pk=project.pk).name == "with token"


# --- The settings form ------------------------------------------------------------------------------


def test_it_saves_the_settings_and_says_so(project, admin):
    changes = {
        "name": "nuclei 2", "description": "U2OS nuclei", "model_channels": "0", "validation_fraction": "0.3",
        "backend_settings": '{"train": {"n_epochs": 40}}', "retrain_after_annotations": "25",
        "crop_size": "128", "crop_overlap": "16", "display_channels": "0",
    }
    response = browser_for(admin).post(page_url(project), form(project, **changes), follow=True)
    assert response.redirect_chain == [(page_url(project), 302)]
    assert "Settings saved." in text(response) and "re-ranked" not in text(response)
    project.refresh_from_db()
    assert (project.name, project.description, project.model_channels) == ("nuclei 2", "U2OS nuclei", [0])
    assert (project.validation_fraction, project.retrain_after_annotations) == (0.3, 25)
    assert (project.crop_size, project.crop_overlap, project.display_channels) == (128, 16, [0])
    assert project.backend_settings == {"train": {"n_epochs": 40}}


def test_it_chooses_what_training_reads_and_refuses_anything_else(project, admin):
    page = text(browser_for(admin).get(page_url(project)))
    assert '<option value="reviewed">accepted or corrected only</option>' in page
    browser_for(admin).post(page_url(project), form(project, training_uses="reviewed"))
    project.refresh_from_db()
    assert project.training_uses == "reviewed"
    body = text(browser_for(admin).post(page_url(project), form(project, training_uses="some")))
    assert problems_after(body, "training_uses") == ['"some" is not a valid choice.']
    assert Project.objects.get(pk=project.pk).training_uses == "reviewed"


def test_it_lists_every_backend_settings_problem_beside_the_field_and_keeps_the_input(project, admin):
    typed = '{"train": {"n_epochs": -1, "batch_size": 0}, "bogus": 1}'
    response = browser_for(admin).post(page_url(project), form(project, name="renamed", backend_settings=typed))
    assert response.status_code == 400
    body = text(response)
    shown = problems_after(body, "backend_settings")
    assert len(shown) == 3
    assert any("bogus is not a setting" in p for p in shown)
    assert any(p.startswith("train.n_epochs must be between") for p in shown)
    assert any(p.startswith("train.batch_size must be between") for p in shown)
    assert f">{typed}</textarea>" in body and 'name="name" value="renamed"' in body
    assert "Nothing was saved" in body
    project.refresh_from_db()
    assert (project.name, project.backend_settings) == ("nuclei", {})


def test_it_says_when_the_backend_settings_are_not_json(project, admin):
    response = browser_for(admin).post(page_url(project), form(project, backend_settings='{"train": {'))
    assert response.status_code == 400
    body = text(response)
    assert problems_after(body, "backend_settings")[0].startswith("not valid JSON")
    assert '>{"train": {</textarea>' in body


def test_it_refuses_bad_fields_as_the_api_does(project, admin):
    bad = {"random_fraction": "1.5", "model_channels": "0, x", "retrain_after_annotations": "-2", "name": ""}
    body = text(browser_for(admin).post(page_url(project), form(project, **bad)))
    assert problems_after(body, "random_fraction") == ["Ensure this value is less than or equal to 1."]
    assert problems_after(body, "model_channels") == ["item 2: A valid integer is required."]
    assert problems_after(body, "retrain_after_annotations") == ["Ensure this value is greater than or equal to 0."]
    assert problems_after(body, "name") == ["This field may not be blank."]
    assert 'name="random_fraction" type="number" min="0" max="1" step="any" value="1.5"' in body
    assert Project.objects.get(pk=project.pk).random_fraction == 0.1


def test_it_names_bad_fields_and_broken_rules_in_one_answer(project, admin):
    posted = form(project, random_fraction="2", strategy="vibes", backend_settings='{"seed": -1}')
    body = text(browser_for(admin).post(page_url(project), posted))
    assert problems_after(body, "random_fraction") == ["Ensure this value is less than or equal to 1."]
    assert problems_after(body, "strategy")[0].startswith("unknown strategy 'vibes'")
    assert problems_after(body, "backend_settings") == ["seed must be between 0 and 2.14748e+09 (got -1)"]
    assert '<option value="vibes" selected>' in body  # shown as posted


def test_it_names_a_clash_and_a_bad_overlap_beside_their_fields(project, other_project, admin):
    body = text(browser_for(admin).post(page_url(project), form(project, name="other", crop_overlap="256")))
    assert problems_after(body, "name") == ["a project named 'other' already exists"]
    assert problems_after(body, "crop_overlap") == ["crop_overlap (256) must be smaller than crop_size (256)"]


def test_it_refuses_an_unknown_strategy_naming_the_known_ones(project, admin):
    body = text(browser_for(admin).post(page_url(project), form(project, strategy="vibes")))
    (problem,) = problems_after(body, "strategy")
    assert problem.startswith("unknown strategy 'vibes'; known:") and all(name in problem for name in STRATEGIES)


def test_a_new_strategy_re_ranks_the_queue_as_the_queue_settings_endpoint_does(project, admin, ranked):
    assert reasons(project) == {"strategy:cellprob"}
    response = browser_for(admin).post(page_url(project), form(project, strategy="random"), follow=True)
    assert "The queue was re-ranked with random and a random control share of 0." in text(response)
    assert reasons(project) == {"strategy:random"}
    again = client_for(admin).put(f"/api/projects/{project.pk}/queue/settings/",
                                  {"strategy": "random", "random_fraction": 0.0}, format="json")
    assert again.json()["ranking"]["written"] == 0


def test_a_new_random_share_re_ranks_the_queue(project, admin, ranked):
    browser_for(admin).post(page_url(project), form(project, random_fraction="0.5"))
    assert reasons(project) == {"strategy:cellprob", "random-control"}


def test_saving_other_settings_leaves_the_ranking_alone(project, admin, ranked):
    Crop.objects.filter(pk=ranked[0].pk).update(queue_reason="left-alone")
    response = browser_for(admin).post(page_url(project), form(project, description="only this"), follow=True)
    assert "re-ranked" not in text(response)
    assert Crop.objects.get(pk=ranked[0].pk).queue_reason == "left-alone"


def test_crop_settings_are_fixed_once_crops_exist(project, admin, crops):
    body = text(browser_for(admin).get(page_url(project)))
    assert "Fixed: this project has 12 crops," in body
    for field in ("crop_size", "crop_overlap", "display_channels"):
        assert re.search(rf'<input name="{field}"[^>]* disabled>', body), field
    posted = form(project, crop_size="64", crop_overlap="8", display_channels="0", description="still saved")
    browser_for(admin).post(page_url(project), posted)
    project.refresh_from_db()
    assert (project.crop_size, project.crop_overlap, project.display_channels) == (256, 0, [])
    assert project.description == "still saved"


def test_crop_settings_are_editable_before_any_crop_exists(project, admin):
    body = text(browser_for(admin).get(page_url(project)))
    assert "Fixed:" not in body and not re.search(r'<input name="crop_size"[^>]* disabled>', body)


def test_model_channels_must_exist_in_the_images(project, admin, crops):
    body = text(browser_for(admin).post(page_url(project), form(project, model_channels="0, 1")))
    (problem,) = problems_after(body, "model_channels")
    assert problem.startswith("model channels [0, 1] do not exist in every image")


# --- Members --------------------------------------------------------------------------------------------


def members_url(project, user=None) -> str:
    return f"{page_url(project)}members/" + (f"{user.pk}/" if user else "")


def test_it_lists_members_with_their_roles(project, admin, labeller):
    body = text(browser_for(admin).get(page_url(project)))
    assert '<tr data-username="ada">' in body and '<tr data-username="lee">' in body
    assert re.search(r'aria-label="Role of lee">.*?<option value="labeller" selected>', body, re.S)


def test_it_adds_a_user_by_name_with_a_role(project, admin):
    sam = make_user("sam")
    response = browser_for(admin).post(members_url(project), {"username": "sam", "role": "admin"}, follow=True)
    assert response.redirect_chain == [(f"{page_url(project)}#members", 302)]
    assert "sam is now a member (admin)." in text(response)
    assert Membership.objects.get(project=project, user=sam).role == Role.ADMIN


def test_it_says_who_cannot_be_added_and_keeps_the_name(project, admin, labeller):
    unknown = browser_for(admin).post(members_url(project), {"username": "nobody", "role": "labeller"})
    assert unknown.status_code == 400
    body = text(unknown)
    assert problems_after(body, "username") == ["there is no user named 'nobody'"]
    assert 'name="username" value="nobody"' in body
    again = browser_for(admin).post(members_url(project), {"username": "lee", "role": "admin"})
    assert again.status_code == 409
    assert "lee is already a member (labeller); change the role instead" in problems_after(text(again), "username")
    bad_role = browser_for(admin).post(members_url(project), {"username": "lee", "role": "boss"})
    assert problems_after(text(bad_role), "username") == ['role: "boss" is not a valid choice.']


def test_it_changes_a_role(project, admin, labeller):
    response = browser_for(admin).post(members_url(project, labeller), {"action": "role", "role": "admin"},
                                       follow=True)
    assert "lee is now admin." in text(response)
    assert Membership.objects.get(project=project, user=labeller).role == Role.ADMIN


def test_it_never_leaves_a_project_without_an_admin(project, admin, labeller):
    demote = browser_for(admin).post(members_url(project, admin), {"action": "role", "role": "labeller"})
    assert demote.status_code == 409
    body = text(demote)
    assert problems_after(body, "role") == ["a project needs at least one admin; make someone else admin first"]
    assert re.search(r'aria-label="Role of ada">.*?<option value="labeller" selected>', body, re.S)  # as chosen
    remove = browser_for(admin).post(members_url(project, admin), {"action": "remove"})
    assert remove.status_code == 409 and "at least one admin" in text(remove)
    assert Membership.objects.get(project=project, user=admin).role == Role.ADMIN


def test_removing_a_member_returns_their_crop_to_the_queue(project, admin, labeller, crops):
    held = client_for(labeller).post(f"/api/projects/{project.pk}/next/").json()["id"]
    response = browser_for(admin).post(members_url(project, labeller), {"action": "remove"}, follow=True)
    assert "lee is no longer a member" in text(response)
    assert not Membership.objects.filter(project=project, user=labeller).exists()
    crop = Crop.objects.get(pk=held)
    assert (crop.status, crop.leased_by) == (CropStatus.UNLABELLED, None)


def test_an_admin_who_steps_down_goes_back_to_the_project_list(project, admin):
    other = make_user("olga")
    add_member(project, other, Role.ADMIN)
    client = browser_for(admin)
    response = client.post(members_url(project, admin), {"action": "role", "role": "labeller"}, follow=True)
    assert response.redirect_chain == [("/", 302)]
    assert "ada is now labeller." in text(response)
    assert client.get(page_url(project)).status_code == 403


def test_staff_manage_the_members_of_any_project(project, admin, staff):
    sam = make_user("sam")
    assert browser_for(staff).post(members_url(project), {"username": "sam", "role": "labeller"}).status_code == 302
    assert browser_for(staff).post(members_url(project, admin), {"action": "role", "role": "labeller"}).status_code \
        == 409  # ada is the only admin: staff are no project member
    assert Membership.objects.get(project=project, user=sam).role == Role.LABELLER


def test_a_member_removed_meanwhile_is_reported_above_the_list(project, admin):
    sam = make_user("sam")
    response = browser_for(admin).post(members_url(project, sam), {"action": "remove"})
    assert response.status_code == 404
    assert f"user {sam.pk} is not a member of this project" in text(response)
