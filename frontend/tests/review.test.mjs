import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { rangeText, reviewRow, reviewUrl } from "../static/frontend/admin/review_rows.js";
import { ApiError } from "../static/frontend/editor/api.js";
import { deleteCell } from "../static/frontend/editor/edits.js";
import { labelMapFromRows, labelMapToRows } from "../static/frontend/editor/labelmap.js";
import {
  COMMENT_NEEDED, PREDICTION_READ_ONLY, REVIEW_PAGE_SIZE, REVIEW_QUEUE_EMPTY, ReviewFlow, reviewLine, showingLabel,
} from "../static/frontend/editor/review.js";
import { buildKeymap, helpRows, REVIEW_SHORTCUTS } from "../static/frontend/editor/shortcuts.js";
import { EditorStore } from "../static/frontend/editor/store.js";
import { createToolRegistry } from "../static/frontend/editor/tools/index.js";
import { cropNumbered, fakeApi, recordingPage } from "./flow_harness.mjs";
import { picture } from "./helpers.mjs";

/** An annotation summary as api.js reads it from the review queue. */
const entry = (id, cropId, extra = {}) => ({
  id, cropId, version: 1, authorName: "lee", createdAt: "2026-12-06T09:00:00Z", nCells: 1, predictionDifference: 2,
  actions: 3, reviewState: "submitted", reviewedByName: "", reviewComment: "", ...extra,
});

/** Crop `cropId` leased for review, its current annotation `annotationId` (one cell, id 3). */
const leased = (cropId, annotationId, extra = {}) => cropNumbered(cropId, {
  currentAnnotation: { ...entry(annotationId, cropId), labelMap: labelMapFromRows(picture("33..", "33..")), ...extra },
});

/** A review flow over a queue of entries (the same list on every request unless `queue` says otherwise). */
function reviewWith({ queue = null, entries = [entry(11, 1), entry(12, 2)], lease = null, review = [], submit = [], release = [],
  first = null, order = "difference", confirm = true } = {}) {
  const crops = { 1: leased(1, 11), 2: leased(2, 12), 3: leased(3, 13) };
  const leases = lease ?? entries.map((e) => crops[e.cropId]);
  const { api, calls } = fakeApi({
    reviewQueue: queue ?? [], lease: leases, review, submit, release,
  }, { reviewQueue: { count: entries.length, results: entries } });
  const { page, shown, failure, choose } = recordingPage({ confirm });
  const store = new EditorStore();
  const timer = { restart: () => {}, seconds: () => 12 };
  const flow = new ReviewFlow({ api, projectId: 5, store, timer, page, order, first, loadImage: async (url) => `image ${url}` });
  const panel = () => shown.filter(([what]) => what === "review").at(-1)[1];
  return { flow, store, calls, shown, page, panel, failure, choose };
}

const names = (calls) => calls.map(([what, ...args]) => (what === "reviewQueue" ? [what, args[1].order, args[1].offset] : [what, args[0]]));
const editSomething = (store) => store.commit(deleteCell(store.map, store.index, 3));

describe("review flow: opening annotations", () => {
  it("opens the first submitted annotation of the queue, in its order, on its leased crop", async () => {
    const { flow, store, calls, panel, shown } = reviewWith();
    await flow.loadNext();
    assert.deepEqual(names(calls), [["reviewQueue", "difference", 0], ["lease", 1]]);
    assert.deepEqual(calls[0][2], { state: "submitted", order: "difference", limit: REVIEW_PAGE_SIZE, offset: 0 });
    assert.deepEqual(labelMapToRows(store.map), picture("33..", "33.."), "the submitted mask, for editing");
    assert.deepEqual(panel(), {
      annotationId: 11, author: "lee", submittedAt: "2026-12-06T09:00:00Z", version: 1, state: "submitted", decidable: true,
      showing: "submitted", hasPrediction: true,
    });
    assert.match(shown.find(([what]) => what === "opened")[1], /correcting saved version 1/);
  });

  it("says so when nothing is waiting", async () => {
    const { flow, shown, store } = reviewWith({ entries: [] });
    await flow.loadNext();
    assert.equal(flow.crop, null);
    assert.equal(store.map.width, 0);
    assert.deepEqual(shown.at(-1), ["info", REVIEW_QUEUE_EMPTY]);
    assert.ok(shown.some(([what, panel]) => what === "review" && panel === null));
  });

  it("moves past a crop someone else holds, and one decided since the queue was read", async () => {
    const taken = new ApiError("taken", "Another labeller has this crop now.", "", 409, "leased_by_other");
    const decided = leased(2, 12, { reviewState: "accepted" });
    const { flow, calls } = reviewWith({ entries: [entry(11, 1), entry(12, 2), entry(13, 3)], lease: [taken, decided, leased(3, 13)] });
    await flow.loadNext();
    assert.deepEqual(names(calls), [
      ["reviewQueue", "difference", 0], ["lease", 1], ["reviewQueue", "difference", 0], ["lease", 2], ["release", 2],
      ["reviewQueue", "difference", 0], ["lease", 3]]);
    assert.equal(flow.crop.id, 3);
  });

  it("reads the next page when every entry of the first was opened in this session", async () => {
    const full = { count: 30, results: Array.from({ length: REVIEW_PAGE_SIZE }, (_, k) => entry(100 + k, 1)) };
    const { flow, calls } = reviewWith({ queue: [full, { count: 30, results: [entry(12, 2)] }], lease: [leased(2, 12)] });
    for (let k = 0; k < REVIEW_PAGE_SIZE; k++) flow.handled.add(100 + k);
    await flow.loadNext();
    assert.deepEqual(names(calls), [["reviewQueue", "difference", 0], ["reviewQueue", "difference", REVIEW_PAGE_SIZE], ["lease", 2]]);
  });

  it("opens the annotation a link names first, whatever its state, then goes on with the queue", async () => {
    const returned = leased(3, 13, { reviewState: "returned", reviewedByName: "rita", reviewComment: "merge" });
    const { flow, calls, panel, shown } = reviewWith({ first: { annotationId: 13, cropId: 3 }, lease: [returned, leased(1, 11)] });
    await flow.loadNext();
    assert.deepEqual(names(calls), [["lease", 3]]);
    assert.equal(panel().decidable, false);
    assert.deepEqual(shown.filter(([what]) => what === "note").at(-1), ["note", null], "the comment is for its labeller");
    assert.match(reviewLine(panel(), () => "at noon"), /^Annotation 13 \(version 1\) submitted by lee · at noon · already returned: you can still submit a correction$/);
    await flow.skip();
    assert.deepEqual(names(calls).slice(1), [["release", 3], ["reviewQueue", "difference", 0], ["lease", 1]]);
  });

  it("asks for the same annotation again after its lease failed", async () => {
    const down = new ApiError("network", "Could not reach the server.", "Try again.");
    const { flow, calls, choose } = reviewWith({ first: { annotationId: 13, cropId: 3 }, lease: [down, leased(3, 13)] });
    await flow.loadNext();
    await choose("Try again");
    assert.deepEqual(names(calls), [["lease", 3], ["lease", 3]]);
    assert.equal(flow.crop.id, 3);
  });

  it("falls back to the newest first for an order it does not know", () => {
    assert.equal(reviewWith({ order: "loudest" }).flow.order, "newest");
  });
});

describe("review flow: the submitted mask and the prediction", () => {
  it("shows the prediction read-only and comes back to the submitted mask with its edits and history", async () => {
    const { flow, store, panel } = reviewWith();
    await flow.loadNext();
    editSomething(store);
    flow.toggle();
    assert.deepEqual(labelMapToRows(store.map), picture("11.2", "11.2"));
    assert.equal(panel().showing, "prediction");
    assert.equal(showingLabel(panel()), "Showing: the model's prediction (read-only)");
    assert.equal(store.commit(deleteCell(store.map, store.index, 1)), false, "no edits on the prediction");
    assert.deepEqual(labelMapToRows(store.map), picture("11.2", "11.2"));
    assert.equal(store.isDirty, true, "the edits on the submitted mask still count");
    flow.toggle();
    assert.equal(panel().showing, "submitted");
    assert.deepEqual(labelMapToRows(store.map), picture("....", "...."));
    assert.deepEqual(store.editCounts(), { delete: 1 });
    store.undo();
    assert.deepEqual(labelMapToRows(store.map), picture("33..", "33.."));
  });

  it("says an edit on the prediction is refused, and why", async () => {
    const { flow, store } = reviewWith();
    const said = [];
    store.subscribe((event) => { if (event.type === "message") said.push([event.text, event.level]); });
    await flow.loadNext();
    flow.toggle();
    store.commit(deleteCell(store.map, store.index, 1));
    assert.deepEqual(said, [[PREDICTION_READ_ONLY, "warning"]]);
  });

  it("toggles with T, a key no tool or command uses, listed in the help", () => {
    const tools = createToolRegistry().values();
    assert.deepEqual(buildKeymap(tools, REVIEW_SHORTCUTS).get("t"), { command: "toggle-prediction" });
    assert.equal(buildKeymap(createToolRegistry().values()).get("t"), undefined, "labelling mode leaves it free");
    assert.ok(helpRows(createToolRegistry().values(), REVIEW_SHORTCUTS).some(([keys, what]) => keys === "T" && /prediction/.test(what)));
  });

  it("says there is nothing to compare with on a crop without a prediction", async () => {
    const { flow, store, panel } = reviewWith({ lease: [{ ...leased(1, 11), prediction: null }] });
    const said = [];
    store.subscribe((event) => { if (event.type === "message") said.push(event.text); });
    await flow.loadNext();
    assert.equal(showingLabel(panel()), "No prediction to compare");
    flow.toggle();
    assert.equal(flow.showing, "submitted");
    assert.deepEqual(said, ["This crop has no prediction to compare with."]);
  });
});

describe("review flow: decisions", () => {
  it("accepts, then opens the next annotation, leaving out the ones opened in this session", async () => {
    const { flow, calls } = reviewWith();
    await flow.loadNext();
    await flow.accept();
    assert.deepEqual(calls[2], ["review", 11, "accept", ""]);
    assert.deepEqual(names(calls).slice(3), [["reviewQueue", "difference", 0], ["lease", 2]]);
    assert.equal(flow.crop.id, 2);
    await flow.accept();
    assert.equal(flow.crop, null, "the queue still lists both (a stale read): neither opens again");
  });

  it("accepts when the accept-all tool asks", async () => {
    const { flow, store, calls } = reviewWith();
    await flow.loadNext();
    store.command("accept-all");
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(calls[2], ["review", 11, "accept", ""]);
  });

  it("returns only with a comment, and sends it trimmed", async () => {
    const { flow, calls, shown } = reviewWith();
    await flow.loadNext();
    await flow.returnToAuthor("   ");
    assert.deepEqual(shown.at(-1), ["need-comment", COMMENT_NEEDED]);
    assert.equal(calls.length, 2);
    await flow.returnToAuthor("  the two cells at the top are one  ");
    assert.deepEqual(calls[2], ["review", 11, "return", "the two cells at the top are one"]);
    assert.equal(flow.crop.id, 2);
  });

  it("asks before a decision drops the reviewer's edits", async () => {
    const { flow, store, calls, shown } = reviewWith({ confirm: false });
    await flow.loadNext();
    editSomething(store);
    await flow.accept();
    assert.match(shown.at(-1)[1], /^Accept the annotation as submitted\? Your edits will be dropped/);
    assert.equal(calls.length, 2);
  });

  it("submits a correction of the submitted mask, even while the prediction is shown, then opens the next", async () => {
    const { flow, store, calls } = reviewWith();
    await flow.loadNext();
    editSomething(store);
    flow.toggle();
    await flow.submit();
    const [what, cropId, submission] = calls[2];
    assert.deepEqual([what, cropId, submission.startedFrom, submission.editCounts], ["submit", 1, null, { delete: 1 }]);
    assert.deepEqual(labelMapToRows(submission.labelMap), picture("....", "...."));
    assert.equal(flow.crop.id, 2);
    assert.equal(flow.showing, "submitted");
  });

  it("leaves an annotation for later by giving the lease back", async () => {
    const { flow, calls } = reviewWith();
    await flow.loadNext();
    await flow.skip();
    assert.deepEqual(names(calls).slice(2), [["release", 1], ["reviewQueue", "difference", 0], ["lease", 2]]);
  });

  it("offers the next annotation when a decision is refused (decided meanwhile), keeping the edits", async () => {
    const refused = new ApiError("invalid", "The server refused: the crop changed meanwhile.", "Press Try again.", 409, "already_reviewed");
    const { flow, store, failure, choose } = reviewWith({ review: [refused] });
    await flow.loadNext();
    editSomething(store);
    flow.toggle();
    await flow.returnToAuthor("merge these");
    assert.match(failure()[1], /^Not returned\. The server refused/);
    assert.deepEqual(failure()[2].map(([label]) => label), ["Download my mask", "Open the next annotation to review (drop my edits)"]);
    assert.equal(store.isDirty, true);
    await choose("Open the next annotation to review (drop my edits)");
    assert.equal(flow.crop.id, 2);
  });

  it("retries a decision that did not reach the server, with the same comment", async () => {
    const down = new ApiError("network", "Could not reach the server.", "Try again.");
    const { flow, calls, choose, failure } = reviewWith({ review: [down] });
    await flow.loadNext();
    await flow.returnToAuthor("merge these");
    assert.deepEqual(failure()[2].map(([label]) => label), ["Try again", "Download my mask"]);
    await choose("Try again");
    assert.deepEqual(calls.filter(([what]) => what === "review").map(([, ...args]) => args), [[11, "return", "merge these"], [11, "return", "merge these"]]);
  });
});

describe("the Review page's rows", () => {
  it("shows each annotation's crop, labeller, time, cells, changes, actions and decision, with its link", () => {
    const row = reviewRow(entry(11, 4, { reviewState: "returned", reviewedByName: "rita", reviewComment: "merge the top two" }), () => "noon");
    assert.deepEqual(row, {
      crop: "Crop 4 · v1", labeller: "lee", submitted: "noon", cells: 1, changed: 2, actions: 3, state: "returned",
      decision: "by rita: “merge the top two”", open: "Open",
    });
    const waiting = reviewRow(entry(12, 5, { predictionDifference: null, nCells: null }), () => "–");
    assert.deepEqual([waiting.changed, waiting.cells, waiting.decision, waiting.open], ["–", "–", "", "Review"]);
    assert.equal(reviewUrl(3, "sample", 12), "/projects/3/label/?review=sample&annotation=12");
    assert.equal(reviewUrl(3, "newest"), "/projects/3/label/?review=newest");
    assert.deepEqual([rangeText(50, 23, 73), rangeText(0, 0, 0)], ["51–73 of 73", ""]);
  });
});
