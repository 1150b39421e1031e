"""End to end in a real headless Chromium (Playwright), against pytest-django's live server.

A labeller logs in, opens the next crop, deletes a predicted cell, draws a new one, undoes and
redoes, submits, and the stored label image is checked pixel for pixel; one click with the Assist
tool turns a missed cell into a mask (the server's proposal) that is stored; an admin's pin decides
what the next labeller gets; the overview shows counts and the learning curve; staff start a
project and upload an image (the Upload and Export pages with a real worker:
tests/test_browser_transfers.py). With LABELSERVER_SCREENSHOTS=docs/screenshots, screenshots of
every page go there.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from active_learning import jobs
from active_learning.models import Job, JobKind, JobStatus, ModelVersionStatus
from annotations.masks import decode_png, encode_png
from annotations.models import Annotation, BlindLabel, Crop, CropStatus, Project, Role
from tests.factories import (
    PASSWORD,
    U2OS,
    add_member,
    make_crops,
    make_image,
    make_model_version,
    make_prediction,
    make_user,
    true_mask,
)

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Screenshots are written only when asked (LABELSERVER_SCREENSHOTS=docs/screenshots), so a test
# run never changes tracked files.
SCREENSHOTS = Path(os.environ["LABELSERVER_SCREENSHOTS"]) if os.environ.get("LABELSERVER_SCREENSHOTS") else None
VIEWPORT = {"width": 1280, "height": 820}

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install the Debian packages chromium and chromium-driver")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make
    # between browser steps are still plain synchronous calls.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        # launch() gives the browser a fresh temporary profile (its own --user-data-dir).
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, live_server):
    """A fresh browser context (own cookies) per call; JavaScript errors fail the test, except those
    a test expects (`open_page.expected.append("status of 400")`: a refusal it provokes)."""
    contexts, errors = [], []

    def open_():
        context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        return page

    open_.expected = []
    yield open_
    for context in contexts:
        context.close()
    errors = [e for e in errors if not any(words in e for words in open_.expected)]
    assert not errors, errors


def log_in(page, username: str, next_path: str = "/", *, screenshot_as: str = "") -> None:
    page.goto(f"/accounts/login/?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    if screenshot_as:
        screenshot(page, screenshot_as)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_path}")


def screenshot(page, name: str, *, full_page: bool = False) -> None:
    if SCREENSHOTS is None:
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


# --- The labeller's round trip ---------------------------------------------------------------------


class Canvas:
    """Image pixel coordinates -> page coordinates, from the editor's fit-to-window view
    (editor/viewport.js fitView: 98% of the canvas, centred)."""

    def __init__(self, page, width: int, height: int) -> None:
        box = page.locator(".ls-canvas").bounding_box()
        scale = min(box["width"] / width, box["height"] / height) * 0.98
        self.page, self.scale = page, scale
        self.left = box["x"] + (box["width"] - width * scale) / 2
        self.top = box["y"] + (box["height"] - height * scale) / 2

    def click(self, x: float, y: float) -> None:
        self.page.mouse.click(self.left + x * self.scale, self.top + y * self.scale)

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        mouse = self.page.mouse
        mouse.move(self.left + start[0] * self.scale, self.top + start[1] * self.scale)
        mouse.down()
        mouse.move(self.left + end[0] * self.scale, self.top + end[1] * self.scale, steps=5)
        mouse.up()


def inside_point(mask: np.ndarray, cell: int) -> tuple[float, float]:
    """The centre of the pixel deepest inside the cell."""
    depth = ndimage.distance_transform_edt(mask == cell)
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return x + 0.5, y + 0.5


def status(page) -> str:
    return page.locator(".ls-status").inner_text()


def test_a_labeller_corrects_a_prediction_and_the_stored_mask_matches_pixel_for_pixel(project, labeller, open_page):
    image = make_image(project, source=0, crop_size=96, n_crops=2)
    first, second = image.crops.order_by("id")
    version = make_model_version(project, 3)
    predicted = true_mask(first)
    cells = [int(c) for c in np.unique(predicted) if c]
    doomed = max(cells[:-1], key=lambda c: int((predicted == c).sum()))  # a big cell, not the highest id
    prediction = make_prediction(first, version)
    prediction.cell_uncertainty = {str(c): (0.9 if c == cells[0] else 0.1) for c in cells}
    prediction.save()
    make_prediction(second, version)
    Crop.objects.filter(pk=first.pk).update(queue_score=0.87, queue_reason="strategy:combined")

    page = open_page()
    log_in(page, "lee", screenshot_as="login.png")
    screenshot(page, "projects.png")
    page.get_by_role("link", name="Start labelling").click()
    info = page.locator(".ls-info:not(.ls-message)")
    info.get_by_text(f"Crop {first.pk}").wait_for()
    assert "prediction by model v3" in info.inner_text() and "score 0.870 (strategy:combined)" in info.inner_text()
    assert "the model is least sure of" in info.inner_text() and "outlined in red" in info.inner_text()
    assert status(page).startswith(f"{len(cells)} cells")
    canvas = Canvas(page, first.width, first.height)

    # Delete a predicted cell: select it, press Delete.
    page.keyboard.press("v")
    canvas.click(*inside_point(predicted, doomed))
    page.locator(".ls-status", has_text=f"selected: cell {doomed}").wait_for()
    page.keyboard.press("Delete")
    page.locator(".ls-status", has_text=f"{len(cells) - 1} cells").wait_for()

    # Draw a new cell: a polygon over the deleted cell's box, closed with Enter. It takes only
    # the unlabelled pixels inside; the neighbours it crosses keep theirs.
    ys, xs = np.nonzero(predicted == doomed)
    x0, y0 = max(int(xs.min()) - 2, 0), max(int(ys.min()) - 2, 0)
    x1, y1 = min(int(xs.max()) + 2, first.width - 1), min(int(ys.max()) + 2, first.height - 1)
    page.keyboard.press("p")
    for x, y in [(x0 + 0.3, y0 + 0.3), (x1 + 0.7, y0 + 0.3), (x1 + 0.7, y1 + 0.7), (x0 + 0.3, y1 + 0.7)]:
        canvas.click(x, y)
    page.keyboard.press("Enter")
    page.locator(".ls-status", has_text=f"{len(cells)} cells").wait_for()

    # Undo the drawing and the deletion, then redo both.
    page.keyboard.press("Control+z")
    page.locator(".ls-status", has_text=f"{len(cells) - 1} cells").wait_for()
    page.keyboard.press("Control+z")
    page.locator(".ls-status", has_text=f"{len(cells)} cells · ").wait_for()
    assert "0 edits" in status(page)
    page.keyboard.press("Control+Shift+z")
    page.keyboard.press("Control+Shift+z")
    page.locator(".ls-status", has_text="2 edits (unsaved)").wait_for()
    screenshot(page, "editor.png")

    page.get_by_role("button", name="Submit").click()
    info.get_by_text(f"Crop {second.pk}").wait_for()  # the next crop opens at once

    expected = predicted.copy()
    expected[predicted == doomed] = 0
    box = expected[y0 : y1 + 1, x0 : x1 + 1]
    box[box == 0] = max(cells) + 1
    annotation = Annotation.objects.get(crop=first, is_current=True)
    stored = decode_png(annotation.mask_png)
    assert stored.shape == expected.shape and np.array_equal(stored, expected)
    assert annotation.author == labeller and annotation.started_from_id == version.pk
    assert annotation.edit_counts == {"delete": 1, "polygon": 1}
    assert Crop.objects.get(pk=first.pk).status == CropStatus.LABELLED


# Yellow pixels of the editor's top canvas within 2 device pixels of a point given in canvas CSS pixels.
YELLOW_NEAR = """([x, y]) => {
  const canvas = document.querySelector(".ls-canvas");
  const ratio = window.devicePixelRatio || 1;
  const context = canvas.getContext("2d");
  let found = 0;
  for (let dx = -2; dx <= 2; dx++) for (let dy = -2; dy <= 2; dy++) {
    const [r, g, b, a] = context.getImageData(Math.round(x * ratio) + dx, Math.round(y * ratio) + dy, 1, 1).data;
    if (a > 200 && r > 200 && g > 150 && b < 100) found++;
  }
  return found;
}"""


def test_the_editor_circles_where_the_model_may_have_missed_a_cell_until_one_is_drawn(project, labeller, open_page):
    image = make_image(project, source=0, crop_size=96, n_crops=1)
    crop = image.crops.get()
    truth = true_mask(crop)
    border = set(np.unique(np.concatenate([truth[0], truth[-1], truth[:, 0], truth[:, -1]])).tolist())
    inner = [c for c in np.unique(truth).tolist() if c and c not in border]
    missed = max(inner, key=lambda c: int((truth == c).sum()))  # the model left out a whole cell
    prediction = make_prediction(crop, make_model_version(project, 2), np.where(truth == missed, 0, truth))
    x, y = inside_point(truth, missed)
    radius = float(np.sqrt((truth == missed).sum() / np.pi))
    prediction.possible_missed_cells = [[x, y, round(radius, 1)]]
    prediction.save()

    page = open_page()
    log_in(page, "lee")
    page.get_by_role("link", name="Start labelling").click()
    page.locator(".ls-info", has_text="the place where it may have missed a cell is circled in yellow").wait_for()
    page.locator(".ls-status", has_text="1 circled place to check").wait_for()
    canvas = Canvas(page, crop.width, crop.height)
    box = page.locator(".ls-canvas").bounding_box()
    ring = max(8.0, (round(radius, 1) + 3) * canvas.scale)  # render.js: PLACE_MARGIN 3, PLACE_MIN_RADIUS 8
    ring_point = [canvas.left - box["x"] + x * canvas.scale + ring, canvas.top - box["y"] + y * canvas.scale]
    page.wait_for_function(f"(point) => ({YELLOW_NEAR})(point) > 0", arg=ring_point)
    screenshot(page, "editor_missed_cell.png")

    # The labeller draws the missed cell (a polygon over its box): the ring goes.
    ys, xs = np.nonzero(truth == missed)
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
    page.keyboard.press("p")
    for px, py in [(x0 + 0.5, y0 + 0.5), (x1 + 0.5, y0 + 0.5), (x1 + 0.5, y1 + 0.5), (x0 + 0.5, y1 + 0.5)]:
        canvas.click(px, py)
    page.keyboard.press("Enter")
    page.locator(".ls-status", has_text="0 circled places to check").wait_for()
    page.wait_for_function(f"(point) => ({YELLOW_NEAR})(point) === 0", arg=ring_point)


def test_one_click_turns_a_missed_cell_into_a_mask(project, labeller, open_page):
    """The Assist tool: a click in a missed cell adds the cell the server proposes there (here the
    classical proposal: the prediction keeps no flows), one undo step; the stored mask holds it."""
    image = make_image(project, source=0, crop_size=96, n_crops=2)
    crop, other = image.crops.order_by("id")
    truth = true_mask(crop)
    border = set(np.unique(np.concatenate([truth[0], truth[-1], truth[:, 0], truth[:, -1]])).tolist())
    inner = [c for c in np.unique(truth).tolist() if c and c not in border]
    missed = max(inner, key=lambda c: int((truth == c).sum()))
    predicted = np.where(truth == missed, 0, truth)
    version = make_model_version(project, 2)
    prediction = make_prediction(crop, version, predicted)
    x, y = inside_point(truth, missed)
    prediction.possible_missed_cells = [[x, y, round(float(np.sqrt((truth == missed).sum() / np.pi)), 1)]]
    prediction.save()
    make_prediction(other, version)
    Crop.objects.filter(pk=crop.pk).update(queue_score=0.9, queue_reason="strategy:combined")
    n = len(np.unique(predicted)) - 1

    page = open_page()
    log_in(page, "lee")
    page.get_by_role("link", name="Start labelling").click()
    info = page.locator(".ls-info:not(.ls-message)")
    info.get_by_text(f"Crop {crop.pk}").wait_for()
    canvas = Canvas(page, crop.width, crop.height)

    def cells(k: int):
        return page.locator(".ls-status", has_text=re.compile(rf"^{k} cells"))

    # From click to cell drawn, HTTP included: click, the cell appears, undo; a dozen times.
    page.keyboard.press("c")
    for _ in range(12):
        canvas.click(x, y)
        cells(n + 1).wait_for()
        page.keyboard.press("Control+z")
        cells(n).wait_for()
    latencies = page.evaluate("performance.getEntriesByName('assist').map((e) => e.duration)")
    http = page.evaluate("performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/propose/'))"
                         ".map((e) => e.responseEnd - e.startTime)")
    p95 = float(np.percentile(latencies, 95))
    print(f"assist click to cell drawn: median {np.median(latencies):.1f} ms, p95 {p95:.1f} ms over {len(latencies)} "
          f"(of which HTTP: median {np.median(http):.1f} ms, p95 {np.percentile(http, 95):.1f} ms)")
    assert len(latencies) == 12 and p95 < 1000, latencies

    # A box over the missed cell adds the cell found in it, or leaves it out when it overlaps a
    # neighbour (today's classical proposal there spills onto the cell below); Shift+drag adds it
    # over the neighbour. One undo step either way.
    ys, xs = np.nonzero(truth == missed)
    box = (xs.min() + 0.2, ys.min() + 0.2), (xs.max() + 0.8, ys.max() + 0.8)
    canvas.drag(*box)
    page.locator(".ls-message", has_text="overlaps an existing cell").or_(cells(n + 1)).wait_for()
    if cells(n + 1).is_visible():
        page.keyboard.press("Control+z")
        cells(n).wait_for()
    page.keyboard.down("Shift")
    canvas.drag(*box)
    page.keyboard.up("Shift")
    cells(n + 1).wait_for()
    page.keyboard.press("Control+z")
    cells(n).wait_for()

    canvas.click(x, y)
    cells(n + 1).wait_for()
    assert "Assist: this crop's prediction kept no flows" in info.inner_text()  # the classical fallback, said
    page.locator(".ls-message .ls-close").click()  # the box step's note
    screenshot(page, "editor_assisted.png")
    # Alt+click on the new cell asks for a better outline: the same method has none, and says so.
    page.keyboard.down("Alt")
    canvas.click(x, y)
    page.keyboard.up("Alt")
    page.locator(".ls-message", has_text="nothing better").wait_for()
    page.locator(".ls-status", has_text="1 edit (unsaved)").wait_for()
    page.get_by_role("button", name="Submit").click()
    info.get_by_text(f"Crop {other.pk}").wait_for()

    annotation = Annotation.objects.get(crop=crop, is_current=True)
    stored = decode_png(annotation.mask_png)
    added = stored != predicted
    new_id = int(predicted.max()) + 1
    assert added[int(y), int(x)] and np.all(stored[added] == new_id)  # one new cell, at the click
    assert np.all(predicted[added] == 0)  # it took only unlabelled pixels
    true_cell = truth == missed
    iou = (added & true_cell).sum() / (added | true_cell).sum()
    assert iou > 0.5, iou
    assert annotation.edit_counts == {"click_add": 1}


# --- Admin pages --------------------------------------------------------------------------------------


def test_an_admin_pin_decides_what_the_next_labeller_gets(project, admin, labeller, open_page):
    crops = make_crops(project, 3, crop_size=64)
    last = crops[-1]

    page = open_page()
    log_in(page, "ada", f"/projects/{project.pk}/queue/")
    row = page.locator(f"tr[data-crop='{last.pk}']")
    row.get_by_role("button", name="Pin").click()
    page.locator("#queue-message", has_text="1 crop changed").wait_for()
    first_row = page.locator("#queue-table tbody tr").first
    first_row.locator(".reason", has_text="pinned").wait_for()
    assert first_row.get_attribute("data-crop") == str(last.pk)
    assert first_row.locator("img").evaluate("img => img.complete && img.naturalWidth") == last.width
    screenshot(page, "queue.png", full_page=True)

    labeller_page = open_page()
    log_in(labeller_page, "lee", f"/projects/{project.pk}/label/")
    labeller_page.locator(".ls-info:not(.ls-message)").get_by_text(f"Crop {last.pk}").wait_for()


def test_the_overview_shows_counts_and_the_learning_curve(project, admin, labeller, open_page):
    crops = make_crops(project, 12, crop_size=96)
    for number, (cells, ap) in enumerate([(0, 0.42), (180, 0.61), (420, 0.74)], start=1):
        status_ = ModelVersionStatus.ACTIVE if number == 3 else ModelVersionStatus.RETIRED
        version = make_model_version(project, number, status_)
        version.metrics = {"ap50": ap, "ap75": ap - 0.2, "ap90": ap - 0.35,
                           "per_crop": [{"crop": crops[-1].pk, "ap50": 0.31, "n_true": 9},
                                        {"crop": crops[-2].pk, "ap50": 0.52, "n_true": 14}]}
        version.n_train_cells, version.n_train_crops = cells, cells // 12
        version.save()
    for crop, seconds, reason, edits in [(crops[0], 40, "strategy:combined", {"delete": 3, "lasso": 4}),
                                         (crops[1], 55, "strategy:combined", {"brush": 6}),
                                         (crops[2], 20, "random-control", {"delete": 2})]:
        mask = true_mask(crop)
        Annotation.objects.create(crop=crop, version=1, author=labeller, mask_png=encode_png(mask),
                                  n_cells=len(np.unique(mask)) - 1, seconds_spent=seconds,
                                  edit_counts=edits, queue_reason=reason)
    Crop.objects.filter(pk__in=[c.pk for c in crops[:3]]).update(status=CropStatus.LABELLED)
    lin = make_user("lin")
    add_member(project, lin, Role.LABELLER)
    # lin's blind second label of crop 0: every cell one pixel smaller.
    first = Annotation.objects.get(crop=crops[0])
    truth = true_mask(crops[0])
    second = np.zeros_like(truth)
    for cell in np.unique(truth[truth > 0]):
        second[ndimage.binary_erosion(truth == cell)] = cell
    n_second = len(np.unique(second)) - 1
    BlindLabel.objects.create(crop=crops[0], paired_with=first, author=lin, mask_png=encode_png(second),
                              n_cells=n_second)

    page = open_page()
    log_in(page, "ada", f"/projects/{project.pk}/overview/")
    counts = page.locator("#counts tr[data-split=train]").inner_text().split()
    assert counts == ["train", "9", "0", "3", "0", "12"]
    assert page.locator("#learning-curve g.point").count() == 3
    assert page.locator("#learning-curve g.point.active").get_attribute("data-version") == "3"
    assert page.locator("#active-version .ap50").inner_text() == "0.740"
    # Cells one pixel smaller all match at IoU 0.5, not all at 0.75.
    assert page.locator("#active-version .agree-ap50").inner_text() == "1.000"
    assert float(page.locator("#active-version .agree-ap75").inner_text()) < 1
    assert page.locator("#weakest figure").count() == 2
    assert "corrections per cell" in page.locator("#payoff-summary").inner_text()
    screenshot(page, "overview.png", full_page=True)

    page.get_by_role("link", name="Labellers").click()
    assert page.locator("tr[data-username=lee]").inner_text().split("\t")[1:4] == ["labeller", "3", "34"]
    # lin's one crop is the blind second label.
    assert page.locator("tr[data-username=lin]").inner_text().split("\t")[2:4] == ["1", str(n_second)]
    for who in ("lee", "lin"):
        assert page.locator(f"tr[data-username={who}] .agree-pairs").inner_text() == "1"
    screenshot(page, "labellers.png")


def test_the_training_page_follows_a_job_and_rolls_back_to_an_older_version(project, admin, open_page):
    old = make_model_version(project, 1, ModelVersionStatus.RETIRED)
    old.metrics, old.n_train_cells, old.n_train_crops = {"ap50": 0.55, "ap75": 0.31, "ap90": 0.08}, 150, 12
    old.weights = f"models/{project.pk}/{'0' * 64}.pt"  # promote only checks that a version has weights
    old.save()
    make_model_version(project, 2)
    job = Job.objects.create(project=project, kind=JobKind.TRAIN, status=JobStatus.RUNNING, model_version=old,
                             progress={"epoch": 3, "n_epochs": 10, "loss": 0.512}, log="epoch 1 loss 0.9\n")

    page = open_page()
    log_in(page, "ada", f"/projects/{project.pk}/training/")
    page.locator("#current-job", has_text="epoch 3 of 10 · loss 0.5120").wait_for()
    assert page.locator("#current-job .progress").get_attribute("aria-valuenow") == "30"
    screenshot(page, "training.png", full_page=True)

    finished = {"epoch": 10, "n_epochs": 10, "loss": 0.2}
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, progress=finished)
    page.locator("#training-message", has_text=f"Job #{job.pk} succeeded").wait_for()
    page.locator(f"tr[data-job='{job.pk}']").get_by_role("button", name="Log").click()
    page.locator("pre.log", has_text="epoch 1 loss 0.9").wait_for()

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("tr[data-version='1']").get_by_role("button", name="Roll back to this").click()
    page.locator("#training-message", has_text="Version 1 is now active").wait_for()
    old.refresh_from_db()
    assert old.status == ModelVersionStatus.ACTIVE


def test_staff_start_a_project_in_the_browser_and_go_on_to_upload(project, open_page):
    make_user("stella", staff=True)
    page = open_page()
    log_in(page, "stella")
    page.click("a#new-project")
    page.wait_for_url("**/projects/new/")
    page.fill("input[name=name]", "U2OS nuclei")
    page.fill("textarea[name=description]", "U2OS nuclei, DAPI")
    page.fill("input[name=model_channels]", "0")
    page.fill("input[name=crop_size]", "128")
    page.fill("input[name=crop_overlap]", "16")
    page.check("input[name=start][value=pretrained]")
    page.select_option("select[name=pretrained]", "nuclei")
    screenshot(page, "new_project.png", full_page=True)
    page.click("form#new-project button[type=submit]")  # not the header's log-out button
    page.wait_for_url("**/upload/")

    created = Project.objects.get(name="U2OS nuclei")
    assert page.url.endswith(f"/projects/{created.pk}/upload/")
    assert (created.crop_size, created.crop_overlap, created.model_channels) == (128, 16, [0])
    assert created.backend_settings == {"start_from": "pretrained:nuclei"}
    assert created.memberships.get().user.username == "stella" and created.memberships.get().role == Role.ADMIN
    page.locator(".notice", has_text="you are its admin").wait_for()


def run_the_queued_job(row) -> None:
    """Run the job whose progress a page's row shows, here, as a worker would: the page follows it
    to its end. tests/test_browser_transfers.py runs such jobs in a real worker process."""
    row.wait_for()
    jobs.run_job(int(row.get_attribute("data-job")), worker="test-browser")


def drop(page, selector: str, path: Path) -> None:
    """Drag a file from disk onto a drop zone (a DataTransfer built in the page)."""
    data = base64.b64encode(path.read_bytes()).decode()
    transfer = page.evaluate_handle(
        """([name, data]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            return transfer;
        }""",
        [path.name, data],
    )
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


# --- The Content-Security-Policy ------------------------------------------------------------------


def test_the_django_admin_and_the_api_docs_work_under_the_content_security_policy(project, open_page):
    """The tests run with the production policy (script and style from this site only), and a
    blocked script or style is a console error, which fails the test (open_page): the editor and
    the project pages above are checked by their own tests; here the Django admin and the API docs."""
    root = make_user("root", staff=True)
    root.is_superuser = True
    root.save()
    page = open_page()
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))  # the admin pages name no icon
    log_in(page, "root", "/admin/")
    assert "script-src 'self'" in page.request.get("/admin/").headers["content-security-policy"]
    page.goto("/admin/auth/user/add/")
    page.fill("input[name=username]", "newcomer")
    page.fill("input[name=password1]", "a-long-new-password-4711")
    page.fill("input[name=password2]", "a-long-new-password-4711")
    page.click("input[name=_save]")
    page.locator("ul.messagelist").wait_for()
    page.goto("/admin/auth/user/")
    page.locator("#result_list").get_by_text("newcomer").wait_for()
    page.goto("/api/docs/")
    page.locator(".swagger-ui .info .title", has_text="labelserver API").wait_for()


# --- Review -----------------------------------------------------------------------------------------


def test_a_reviewer_accepts_corrects_and_returns_in_review_mode_and_the_labeller_reads_the_comment(open_page):
    """Staff start a project in the browser and upload an image; a labeller labels three crops (one
    cell deleted from the first prediction); a reviewer opens the Review page, orders it by the
    change from the prediction, opens the top annotation in the editor's review mode, compares it
    with the prediction, returns it with a comment, accepts the next, corrects the last (one cell
    deleted, submitted), and is told nothing more is waiting; the labeller's next crop is the
    returned one, with the comment shown until they submit."""
    make_user("stella", staff=True)
    lee, rita = make_user("lee"), make_user("rita")
    page = open_page()
    log_in(page, "stella")
    page.click("a#new-project")
    page.fill("input[name=name]", "Review round")
    page.fill("input[name=crop_size]", "128")
    page.fill("input[name=crop_overlap]", "0")
    page.check("input[name=start][value=scratch]")
    page.click("form#new-project button[type=submit]")
    page.wait_for_url("**/upload/")
    project = Project.objects.get(name="Review round")
    drop(page, ".dropzone[data-role=images]", sorted((U2OS / "images").glob("*.png"))[0])
    page.click("#upload-start")
    run_the_queued_job(page.locator("#uploads tr[data-job]"))
    page.locator("#upload-message", has_text="1 image uploaded").wait_for()
    # No crop waits for a second, blind label: all three labelled crops wait for review at once.
    Project.objects.filter(pk=project.pk).update(double_label_share=0)
    add_member(project, lee, Role.LABELLER)
    add_member(project, rita, Role.REVIEWER)
    version = make_model_version(project, 1)
    for crop in Crop.objects.filter(project=project):
        make_prediction(crop, version)

    # The labeller labels three crops: one cell deleted from the first prediction, the others as predicted.
    labeller_page = open_page()
    log_in(labeller_page, "lee", f"/projects/{project.pk}/label/")
    info = labeller_page.locator(".ls-info:not(.ls-message)")
    labelled = []
    for k in range(3):
        info.get_by_text(re.compile(r"^Crop \d+")).wait_for()
        crop = Crop.objects.get(pk=int(re.match(r"Crop (\d+)", info.inner_text())[1]))
        truth = true_mask(crop)
        if k == 0:
            labeller_page.keyboard.press("d")
            Canvas(labeller_page, crop.width, crop.height).click(*inside_point(truth, int(truth.max())))
            labeller_page.locator(".ls-status", has_text="1 edit (unsaved)").wait_for()
        labeller_page.get_by_role("button", name="Submit", exact=True).click()
        info.get_by_text(re.compile(rf"^Crop (?!{crop.pk}\b)\d+")).wait_for()
        labelled.append(crop)
    first, second, third = labelled

    # The reviewer finds the Review page from the project list, and sees the three annotations.
    review_page = open_page()
    log_in(review_page, "rita")
    review_page.locator(f".card[data-project='{project.pk}']").get_by_role("link", name="Review").click()
    review_page.wait_for_url(f"**/projects/{project.pk}/review/**")
    rows = review_page.locator("#review-table tbody tr[data-annotation]")
    rows.nth(2).wait_for()
    assert rows.count() == 3
    # Most changed from the prediction first: the crop the labeller deleted a cell on.
    review_page.select_option("select[name=order]", "difference")
    top = review_page.locator(f"#review-table tbody tr[data-annotation]:first-child[data-crop='{first.pk}']")
    top.wait_for()
    assert top.inner_text().split("\t")[1] == "lee"
    screenshot(review_page, "review.png", full_page=True)

    # Its Review link opens the editor's review mode on it, leased to the reviewer: the submitted
    # mask, and with T the model's prediction (the cell the labeller deleted is there).
    top.get_by_role("link", name="Review").click()
    review_info = review_page.locator(".ls-info:not(.ls-message)")
    panel = review_page.locator(".ls-review")
    review_info.get_by_text(f"Crop {first.pk}").wait_for()
    panel.get_by_text("submitted by lee").wait_for()
    assert Crop.objects.get(pk=first.pk).leased_by == rita
    cells = len(np.unique(true_mask(first))) - 1
    review_page.locator(".ls-status", has_text=re.compile(rf"^{cells - 1} cells")).wait_for()
    review_page.keyboard.press("t")
    panel.locator(".ls-review-toggle", has_text="the model's prediction (read-only)").wait_for()
    review_page.locator(".ls-status", has_text=re.compile(rf"^{cells} cells")).wait_for()
    screenshot(review_page, "review_prediction.png")
    review_page.keyboard.press("t")
    panel.locator(".ls-review-toggle", has_text="the submitted mask").wait_for()
    review_page.locator(".ls-status", has_text=re.compile(rf"^{cells - 1} cells")).wait_for()
    screenshot(review_page, "review_submitted.png")

    # Return needs a comment, then sends the crop back with it.
    panel.locator(".ls-return").click()
    review_page.locator(".ls-message", has_text="Say in the comment what the labeller should change").wait_for()
    comment = "The nucleus right of the centre has no cell: draw it again."
    panel.locator(".ls-review-comment").fill(comment)
    panel.locator(".ls-return").click()

    # The next in the same order (no other change from the prediction: newest first): accepted.
    review_info.get_by_text(f"Crop {third.pk}").wait_for()
    panel.locator(".ls-accept").click()

    # The next: the reviewer deletes a cell and submits the correction; then nothing is waiting.
    review_info.get_by_text(f"Crop {second.pk}").wait_for()
    truth = true_mask(second)
    review_page.keyboard.press("d")
    Canvas(review_page, second.width, second.height).click(*inside_point(truth, int(truth.max())))
    review_page.locator(".ls-status", has_text="1 edit (unsaved)").wait_for()
    review_page.get_by_role("button", name="Submit correction").click()
    review_info.get_by_text("Nothing is waiting for review").wait_for()

    current = {crop.pk: Annotation.objects.get(crop=crop, is_current=True) for crop in labelled}
    assert (current[third.pk].review_state, current[third.pk].reviewed_by) == ("accepted", rita)
    corrected = current[second.pk]
    assert (corrected.version, corrected.author) == (2, rita)
    assert (corrected.review_state, corrected.reviewed_by) == ("corrected", rita)
    assert corrected.n_cells == len(np.unique(truth)) - 2  # one cell fewer than the labeller's (the prediction)
    returned = current[first.pk]
    assert (returned.review_state, returned.reviewed_by, returned.review_comment) == ("returned", rita, comment)
    assert not Crop.objects.filter(project=project, leased_by=rita).exists()  # every decision ended its lease

    # The labeller moves on from the crop they hold: the returned crop comes first, with the comment.
    labeller_page.get_by_role("button", name="Skip").click()
    info.get_by_text(f"Crop {first.pk}").wait_for()
    note = labeller_page.locator(".ls-note")
    note.get_by_text("Returned to you by rita").wait_for()
    assert comment in note.inner_text()
    screenshot(labeller_page, "returned.png")
    labeller_page.get_by_role("button", name="Submit", exact=True).click()
    note.wait_for(state="hidden")
    assert Annotation.objects.get(crop=first, is_current=True).review_state == "submitted"


def test_with_an_object_store_the_editor_draws_the_crop_it_fetched_by_a_signed_url(project, labeller, open_page,
                                                                                  s3_storage, settings):
    """As in the two-host layout (docs/deploy.md): the crop's URL redirects to the store, another
    origin, which the pages' CSP allows as settings.py does for S3_PUBLIC_ENDPOINT_URL; the editor
    reads the crop's pixels back from its canvas, which a cross-origin image without CORS would
    have tainted (a SecurityError fails the test)."""
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {**directives, "img-src": ["'self'", s3_storage.endpoint.url]}}
    crop = make_image(project, source=0, crop_size=96, n_crops=1).crops.get()
    make_prediction(crop, make_model_version(project, 1))
    assert crop.display.name in s3_storage.keys()

    page = open_page()
    from_store = []
    page.on("requestfinished", lambda request: from_store.append(request.url)
            if request.url.startswith(s3_storage.endpoint.url) else None)
    log_in(page, "lee")
    page.get_by_role("link", name="Start labelling").click()
    page.locator(".ls-info:not(.ls-message)").get_by_text(f"Crop {crop.pk}").wait_for()
    assert any(f"/{crop.display.name}?" in url and "X-Amz-Signature=" in url for url in from_store), from_store
    assert status(page).startswith(f"{int(len(np.unique(true_mask(crop))) - 1)} cells")
