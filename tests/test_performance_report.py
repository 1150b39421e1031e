"""A model version's performance report: who may open its page, its PDF and its API figures; what
they show for a version whose errors are known (real U2OS masks, a prediction that drops cells
in one image group); the queue action "where labelling should go next" offers; and, end to end,
the report of a real trained version (the run's nuclei model) evaluated by real jobs."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from django.test import Client

from active_learning import performance
from active_learning.evaluation import evaluate_masks
from active_learning.models import ModelVersion, ModelVersionStatus
from annotations.models import Crop, CropStatus, Image, Split, Tag
from tests.factories import make_annotation, make_image, make_model_version, true_mask

SCREENSHOTS = Path(os.environ["LABELSERVER_SCREENSHOTS"]) if os.environ.get("LABELSERVER_SCREENSHOTS") else None


def browser_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def page_url(version, suffix: str = "report/") -> str:
    return f"/projects/{version.project_id}/versions/{version.pk}/{suffix}"


def _dropped(truth: np.ndarray, n: int) -> np.ndarray:
    """The true mask less its `n` largest cells: a prediction that misses exactly those."""
    ids, areas = np.unique(truth, return_counts=True)
    largest = ids[1:][np.argsort(areas[1:])[::-1][:n]]
    return np.where(np.isin(truth, largest), 0, truth).astype(truth.dtype)


def _metrics(pairs: list[tuple[Crop, np.ndarray, np.ndarray]]) -> dict:
    """What active_learning.validation stores for these (crop, truth, prediction) triples."""
    metrics = evaluate_masks([t for _, t, _ in pairs], [p for _, _, p in pairs])
    for entry, (crop, truth, pred) in zip(metrics["per_crop"], pairs, strict=True):
        entry.update({"crop": crop.pk, **performance.crop_errors(truth, pred).summary()})
    metrics["size_edges"] = list(performance.SIZE_EDGES)
    metrics["cell_calibration"] = {"cellprob": {"rho": 0.41, "n_cells": 50, "n_errors": 6}}
    return metrics


@pytest.fixture
def known(project, admin):
    """Validation images plateA_01 and plateB_01 (two 128-px crops each), training images
    plateA_02 and plateB_02 waiting for labels. Version 1 predicts every validation cell exactly;
    version 2, trained from it, misses the 3 largest cells of each plateA crop (one tagged "dim")."""
    names = {0: "plateA_01.png", 1: "plateB_01.png", 2: "plateA_02.png", 3: "plateB_02.png"}
    images = {source: make_image(project, source=source, crop_size=128, n_crops=2,
                                 split=Split.VALIDATION if source < 2 else Split.TRAIN) for source in names}
    crops = {source: list(image.crops.order_by("id")) for source, image in images.items()}
    truths = {crop.pk: true_mask(crop) for source in (0, 1) for crop in crops[source]}
    for crop in crops[0] + crops[1]:
        make_annotation(crop, admin)
    for source, name in names.items():  # renamed after reading the shipped masks by their names
        Image.objects.filter(pk=images[source].pk).update(original_name=name)
    dim = Tag.objects.create(project=project, name="dim")
    crops[0][0].tags.add(dim)
    crops[2][0].tags.add(dim)
    validation = crops[0] + crops[1]
    v1 = make_model_version(project, 1, ModelVersionStatus.RETIRED)
    v1.metrics = _metrics([(c, truths[c.pk], truths[c.pk]) for c in validation])
    v1.save()
    v2 = make_model_version(project, 2, ModelVersionStatus.ACTIVE)
    v2.parent = v1
    v2.metrics = _metrics([(c, truths[c.pk], _dropped(truths[c.pk], 3) if c in crops[0] else truths[c.pk])
                           for c in validation])
    v2.save()
    return {"v1": v1, "v2": v2, "crops": crops, "truths": truths}


# --- Who may open it ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["report/", "report.pdf"])
def test_it_refuses_the_report_to_labellers(suffix, known, labeller):
    response = browser_for(labeller).get(page_url(known["v2"], suffix))
    assert response.status_code == 403
    assert b"Only an admin of this project can see this page." in response.content


@pytest.mark.parametrize("suffix", ["report/", "report.pdf"])
def test_it_hides_the_report_from_outsiders(suffix, known, outsider):
    assert browser_for(outsider).get(page_url(known["v2"], suffix)).status_code == 404


@pytest.mark.parametrize("suffix", ["report/", "report.pdf"])
def test_it_sends_anonymous_visitors_to_the_login_page(suffix, known):
    response = Client().get(page_url(known["v2"], suffix))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_it_answers_404_for_a_version_of_another_project(known, other_project, admin):
    theirs = make_model_version(other_project, 1)
    assert browser_for(admin).get(f"/projects/{known['v2'].project_id}/versions/{theirs.pk}/report/").status_code == 404


def test_it_shows_the_report_to_project_admins_and_staff(known, admin, staff):
    for user in (admin, staff):
        response = browser_for(user).get(page_url(known["v2"]))
        assert response.status_code == 200
        assert b"Version 2: performance report" in response.content
        assert "csrftoken" in response.cookies  # its buttons call the queue API


def test_the_api_report_is_for_admins_only(known, admin_client, labeller_client, outsider_client):
    url = f"/api/model-versions/{known['v2'].pk}/report/"
    assert labeller_client.get(url).status_code == 403
    assert outsider_client.get(url).status_code == 404
    assert admin_client.get(url).status_code == 200


# --- What it shows -----------------------------------------------------------------------------


def test_it_counts_the_dropped_cells_per_group_tag_and_size_and_compares_with_the_parent(known, admin_client):
    report = admin_client.get(f"/api/model-versions/{known['v2'].pk}/report/").json()["performance"]
    crops, truths = known["crops"], known["truths"]
    n_a = sum(len(np.unique(truths[c.pk])) - 1 for c in crops[0])
    n_b = sum(len(np.unique(truths[c.pk])) - 1 for c in crops[1])
    # plateA: 6 cells missed of n_a, nothing false: AP = (n_a - 6) / n_a at every threshold.
    groups = {row["key"]: row for row in report["by_group"]}
    assert groups["plateA"]["ap50"] == pytest.approx((n_a - 6) / n_a) and groups["plateA"]["errors"] == 6
    assert groups["plateB"]["ap50"] == 1.0 and groups["plateB"]["n_true"] == n_b
    assert [row["key"] for row in report["by_group"]] == ["plateA", "plateB"]  # worst first
    assert report["overall"]["ap50"] == pytest.approx((n_a + n_b - 6) / (n_a + n_b))
    errors = {row["type"]: row for row in report["errors"]}
    assert {k: row["count"] for k, row in errors.items()} == {"missed": 6, "false": 0, "merged": 0, "split": 0,
                                                              "poor": 0}
    assert {ex["crop"] for ex in errors["missed"]["examples"]} == {c.pk for c in crops[0]}
    assert sum(row["lost"] for row in report["sizes"]) == 6
    assert {row["key"]: row["errors"] for row in report["by_tag"]} == {"dim": 3}
    parent = {row["key"]: row["verdict"] for row in report["parent"]["by_group"]}
    assert parent == {"plateA": "worse", "plateB": "same"} and report["parent"]["same_annotations"]
    assert report["calibration"]["cells"]["cellprob"]["rho"] == 0.41


def test_it_groups_by_the_pattern_asked_for_and_refuses_a_bad_one(known, admin, admin_client):
    url = f"/api/model-versions/{known['v2'].pk}/report/"
    report = admin_client.get(url, {"pattern": r"_(\d+)$"}).json()["performance"]
    assert sorted(row["key"] for row in report["by_group"]) == ["01"]
    refused = admin_client.get(url, {"pattern": "(unclosed"})
    assert refused.status_code == 400 and "not a regular expression" in refused.json()["detail"]
    page = browser_for(admin).get(page_url(known["v2"]), {"pattern": "(unclosed"})
    assert page.status_code == 400 and b"Grouped by the default pattern instead" in page.content


def test_where_labelling_should_go_next_focuses_the_queue_in_one_click(known, admin, admin_client):
    """The worst group first, with a boost of its waiting training crops (the focus filter names
    no image group); the tag through the focus filter itself; a size through its worst group."""
    report = admin_client.get(f"/api/model-versions/{known['v2'].pk}/report/").json()["performance"]
    lines = {(line["kind"], line["key"]): line for line in report["next"]}
    assert report["next"][0]["kind"] in ("group", "error") and report["next"][0]["gain"] == 6
    plate_a = lines[("group", "plateA")]["action"]
    waiting_a = [c.pk for c in known["crops"][2]]
    assert plate_a["body"] == {"action": "boost", "crop_ids": waiting_a, "priority": 10}
    assert lines[("tag", "dim")]["action"]["body"] == {"tag": "dim", "split": "train", "priority": 10}
    size = next(line for line in report["next"] if line["kind"] == "size")
    assert "image group plateA" in size["note"] and size["action"]["body"]["crop_ids"] == waiting_a

    answer = admin_client.post(plate_a["url"], plate_a["body"], format="json")
    assert answer.status_code == 200 and answer.json()["changed"] == 2
    assert set(Crop.objects.filter(priority=10).values_list("pk", flat=True)) == set(waiting_a)

    html = browser_for(admin).get(page_url(known["v2"])).content.decode()
    button = re.search(r'<button type="button" class="focus" data-url="([^"]+)" data-body="([^"]+)"', html)
    assert button and button.group(1) == plate_a["url"]
    assert json.loads(button.group(2).replace("&quot;", '"')) == plate_a["body"]


def test_the_page_shows_each_section(known, admin):
    html = browser_for(admin).get(page_url(known["v2"])).content.decode()
    for section in ("overall", "next", "errors", "sizes", "by-group", "by-tag", "calibration", "parent", "by-image",
                    "weakest"):
        assert f'id="{section}"' in html, section
    assert re.search(r'<tr data-type="missed"><th>missed</th><td class="num count">6</td>', html)
    assert f'href="/projects/{known["v2"].project_id}/versions/{known["v1"].pk}/report/"' in html  # the parent's
    assert 'id="not-analysed"' not in html


def test_a_version_evaluated_before_the_error_analysis_shows_ap_and_says_what_is_missing(known, admin):
    v1 = known["v1"]
    v1.metrics = {**v1.metrics, "per_crop": [{k: v for k, v in e.items() if k not in ("errors", "sizes")}
                                             for e in v1.metrics["per_crop"]]}
    v1.save()
    html = browser_for(admin).get(page_url(v1)).content.decode()
    assert 'id="not-analysed"' in html and 'id="by-group"' in html


def test_an_unevaluated_version_says_so(project, admin):
    version = make_model_version(project, 1)
    html = browser_for(admin).get(page_url(version)).content.decode()
    assert "has not been evaluated on validation crops yet" in html


def test_the_training_and_overview_pages_link_to_the_report(known, admin):
    html = browser_for(admin).get(f"/projects/{known['v2'].project_id}/overview/").content.decode()
    assert f'id="active-report" href="{page_url(known["v2"])}"' in html
    script = (Path(__file__).parent.parent / "frontend/static/frontend/admin/training.js").read_text()
    assert "/projects/${project}/versions/${v.id}/report/" in script


# --- The PDF ---------------------------------------------------------------------------------------


def render_page(pdf: bytes, index: int = 0):
    """A page of the PDF as a PIL image (PDFium, the renderer of Chromium)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        assert len(document) == 3
        return document[index].render(scale=1.2).to_pil().convert("RGB")
    finally:
        document.close()


def test_the_pdf_renders_the_report(known, admin, tmp_path):
    response = browser_for(admin).get(page_url(known["v2"], "report.pdf"))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert 'filename="nuclei-v2-report.pdf"' in response["Content-Disposition"]
    first = np.asarray(render_page(response.content))
    ink = (first < 200).any(axis=2)
    assert ink.mean() > 0.01, "page 1 is blank"
    red = (first[..., 0] > 150) & (first[..., 1] < 80) & (first[..., 2] < 80)
    assert red.sum() > 500  # the errors-by-type bars
    if SCREENSHOTS:
        render_page(response.content).save(SCREENSHOTS / "report_pdf_page1.png")


# --- End to end: a real trained version ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_trained_version_gets_a_report_from_its_evaluation(nuclei_model, u2os_pairs, tmp_path):
    """The nuclei model serves as start weights (its evaluation: version 1), a training fine-tunes
    version 2 from it; each evaluation keeps its error analysis, and version 2's page shows it
    beside version 1's figures on the same crops."""
    from active_learning import jobs, services, versions
    from active_learning.models import Job, JobKind, JobStatus
    from tests.factories import add_member, ingest_u2os_corners, make_project, make_user

    project = make_project("trained", crop_size=128)
    _, sha = versions.store_weights(project, Path(nuclei_model.training.weights_path))
    project.backend_settings = {"start_from": f"weights:{sha}", "predict": {"diameter": 30},
                                "train": {"n_epochs": 2, "batch_size": 4, "crops_per_epoch": 4}}
    project.save()
    ingest_u2os_corners(project, u2os_pairs[:3], tmp_path, side=256,
                        splits=(Split.TRAIN, Split.VALIDATION, Split.TRAIN), labelled=(True, True, False))
    admin = make_user("ada")
    add_member(project, admin, "admin")
    with jobs.run_by_caller():
        for kind in (JobKind.PREDICT, JobKind.TRAIN):
            services.start_job(project, kind=kind)
            job = Job.objects.get(project=project, kind=kind, status=JobStatus.QUEUED)
            assert jobs.run_job(job.pk, worker="test") == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).log
    v1, v2 = ModelVersion.objects.filter(project=project).order_by("number")
    assert v2.parent == v1
    for version in (v1, v2):
        per_crop = version.metrics["per_crop"]
        assert len(per_crop) == 4 and all("errors" in e and "sizes" in e for e in per_crop)
        # The error types explain every false negative: missed, merged into a cell, or split.
        for entry in per_crop:
            assert sum(n for n, _ in entry["sizes"]) == entry["n_true"]
            assert entry["errors"]["missed"] <= entry["fn50"]
        assert set(version.metrics["cell_calibration"]) == {"cellprob", "flow_error"}

    client = browser_for(admin)
    response = client.get(page_url(v2))
    assert response.status_code == 200
    html = response.content.decode()
    report = response.context["report"]
    assert report["analysed"] and report["overall"]["ap50"] == pytest.approx(v2.metrics["ap50"])
    assert report["parent"]["number"] == 1 and report["parent"]["n_crops"] == 4
    assert report["calibration"]["crops"]  # combined_fitted scored the validation crops
    assert f'<td class="ap50">{v2.metrics["ap50"]:.3f}</td>' in html
    pdf = client.get(page_url(v2, "report.pdf")).content
    assert (np.asarray(render_page(pdf)) < 200).any(axis=2).mean() > 0.01
    if SCREENSHOTS:
        render_page(pdf).save(SCREENSHOTS / "report_trained_pdf_page1.png")
        (SCREENSHOTS / "report_trained.html").write_text(html)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_report_page_focuses_the_queue_in_the_browser(known, admin, live_server):
    """The first "where labelling should go next" button, clicked in Chromium, boosts the worst
    group's waiting training crops; with LABELSERVER_SCREENSHOTS the page is docs' report.png."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip(f"no Chromium at {chromium}")
    from playwright.sync_api import sync_playwright

    from tests.factories import PASSWORD

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        errors: list[str] = []
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1500}, base_url=live_server.url)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(f"/accounts/login/?next={page_url(known['v2'])}")
            page.fill("input[name=username]", admin.username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#next button.focus")
            if SCREENSHOTS:
                page.screenshot(path=str(SCREENSHOTS / "report.png"))
            page.locator("#next li[data-kind=group] button.focus").first.click()
            page.wait_for_selector("#report-message.ok")
            assert "2 crops now come first" in page.inner_text("#report-message")
        finally:
            browser.close()
    assert not errors, errors
    assert set(Crop.objects.filter(priority=10).values_list("pk", flat=True)) == {c.pk for c in known["crops"][2]}
    assert Crop.objects.filter(status=CropStatus.UNLABELLED, priority=10).count() == 2


def test_the_pdf_of_an_unevaluated_version_is_one_line(project, admin):
    version = make_model_version(project, 1)
    pdf = browser_for(admin).get(page_url(version, "report.pdf")).content
    assert pdf.startswith(b"%PDF") and len(io.BytesIO(pdf).getvalue()) > 1000


def test_the_pdf_keeps_the_worst_rows_that_fit_a_long_table(known, admin):
    """60 image groups (one per image): the PDF lists the worst that fit and says how many there are."""
    import pypdfium2

    from active_learning.performance_report import performance_report
    from frontend.report_pdf import report_pdf

    report = performance_report(known["v2"])
    rows = [{**report["by_group"][0], "key": f"plate{i:02d}"} for i in range(60)]
    document = pypdfium2.PdfDocument(report_pdf(known["v2"].project, {**report, "by_group": rows, "by_image": rows}))
    text = document[1].get_textpage().get_text_range()
    document.close()
    assert "(the first " in text and "of 60)" in text and "plate00" in text and "plate59" not in text
