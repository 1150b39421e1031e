import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ApiError } from "../static/frontend/editor/api.js";
import { decodeRle } from "../static/frontend/editor/codec.js";
import { deleteCell } from "../static/frontend/editor/edits.js";
import { describeCrop, LabellingFlow, modelMarks, QUEUE_EMPTY, startingMap } from "../static/frontend/editor/flow.js";
import { labelMapFromRows, labelMapToRows } from "../static/frontend/editor/labelmap.js";
import { EditorStore } from "../static/frontend/editor/store.js";
import { cropNumbered, fakeApi, recordingPage } from "./flow_harness.mjs";
import { picture } from "./helpers.mjs";

/** A flow on a fake API (answers: a list per method; an Error is thrown) and a recording page. */
function flowWith({ next = [cropNumbered(1), cropNumbered(2)], submit = [], skip = [], lease = [], confirm = true } = {}) {
  const { api, calls } = fakeApi({ nextCrop: next, submit, skip, lease }, {}, { nextCrop: "next" });
  const { page, shown, failure, choose } = recordingPage({ confirm });
  let now = 1000, restarts = 0;
  const timer = { restart: () => { restarts++; }, seconds: () => 42 };
  const store = new EditorStore();
  const flow = new LabellingFlow({
    api, projectId: 5, store, timer, page, now: () => (now += 10), loadImage: async (url) => `image ${url}`,
  });
  return { flow, store, calls, shown, failure, choose, restarts: () => restarts };
}

const editSomething = (store) => store.commit(deleteCell(store.map, store.index, 1));

describe("labelling flow: opening crops", () => {
  it("opens the next crop with its prediction, marks and info, busy while it asks", async () => {
    const { flow, store, calls, shown, restarts } = flowWith();
    await flow.loadNext();
    assert.deepEqual(calls, [["next", 5]]);
    assert.equal(flow.crop.id, 1);
    assert.deepEqual(labelMapToRows(store.map), picture("11.2", "11.2"));
    assert.deepEqual(shown.slice(0, 3), [["busy", true, "Opening the next crop…"], ["busy", false, ""], ["image", 1, "image /crops/1.png", [2]]]);
    assert.match(shown[3][1], /^Crop 1 · plate1\.tif · 4×2 · rank 2 · score 0\.500 \(uncertainty\) · prediction by model v3 · the cell the model is least sure of/);
    assert.equal(restarts(), 1, "the time on the crop starts afresh");
    assert.equal(flow.busy, false);
    assert.ok(flow.openMs > 0);
  });

  it("says so when the queue is empty, and leaves nothing to edit", async () => {
    const { flow, store, shown } = flowWith({ next: [null] });
    await flow.loadNext();
    assert.equal(flow.crop, null);
    assert.equal(store.map.width, 0);
    assert.deepEqual(shown.at(-1), ["info", QUEUE_EMPTY]);
  });

  it("offers to try again when the crop does not open", async () => {
    const { flow, failure, choose, calls } = flowWith({ next: [new ApiError("auth", "You are logged out.", "Log in again.", 403), cropNumbered(1)] });
    await flow.loadNext();
    assert.equal(failure()[1], "Could not open the next crop. You are logged out. Log in again.");
    assert.deepEqual(failure()[2].map(([label]) => label), ["Try again"]);
    await choose("Try again");
    assert.equal(flow.crop.id, 1);
    assert.equal(calls.length, 2);
  });

  it("words any other error as a failure it can retry", async () => {
    const { flow, failure } = flowWith({ next: [new TypeError("boom")] });
    await flow.loadNext();
    assert.equal(failure()[1], "Could not open the next crop. Something went wrong: boom. ");
    assert.equal(flow.busy, false);
  });
});

describe("labelling flow: submit and skip", () => {
  it("submits the map, time, edit counts and where it started, then opens the next crop", async () => {
    const { flow, store, calls } = flowWith();
    await flow.loadNext();
    editSomething(store);
    await flow.submit();
    const [, id, submission] = calls[1];
    assert.equal(id, 1);
    assert.deepEqual(labelMapToRows(submission.labelMap), picture("...2", "...2"));
    assert.deepEqual([submission.secondsSpent, submission.editCounts, submission.startedFrom], [42, { delete: 1 }, 7]);
    assert.equal(flow.crop.id, 2);
    assert.equal(store.isDirty, false);
  });

  it("submits a corrected saved mask as started from nothing", async () => {
    const saved = { labelMap: labelMapFromRows(picture("3...", "3...")), version: 2 };
    const { flow, calls } = flowWith({ next: [cropNumbered(1, { currentAnnotation: saved })] });
    await flow.loadNext();
    await flow.submit();
    assert.equal(calls[1][2].startedFrom, null);
    assert.deepEqual(labelMapToRows(calls[1][2].labelMap), picture("3...", "3..."));
  });

  it("does nothing without a crop or while a request is under way", async () => {
    const { flow, calls } = flowWith();
    await flow.submit();
    await flow.skip();
    assert.deepEqual(calls, []);
    await flow.loadNext();
    flow.busy = true;
    await flow.submit();
    await flow.leaseAndSubmit();
    assert.equal(calls.length, 1);
  });

  it("keeps the edits when the submit fails, and offers to retry or download them", async () => {
    const { flow, store, failure, choose, calls, shown } = flowWith({ submit: [new ApiError("network", "Could not reach the server.", "Try again.")] });
    await flow.loadNext();
    editSomething(store);
    await flow.submit();
    assert.equal(failure()[1], "Not saved. Could not reach the server. Try again.");
    assert.deepEqual(failure()[2].map(([label]) => label), ["Try again", "Download my mask"]);
    assert.equal(store.isDirty, true);
    assert.equal(flow.crop.id, 1);
    choose("Download my mask");
    const [, name, text] = shown.at(-1);
    assert.equal(name, "crop-1-mask.rle.json");
    assert.deepEqual(labelMapToRows(decodeRle(JSON.parse(text))), picture("...2", "...2"));
    await choose("Try again");
    assert.equal(calls.filter(([what]) => what === "submit").length, 2);
    assert.equal(flow.crop.id, 2);
  });

  it("after the lease ran out, takes the crop back and submits the same map", async () => {
    const { flow, store, failure, choose, calls } = flowWith({ submit: [new ApiError("expired", "Your lease ran out.", "Take it back.")] });
    await flow.loadNext();
    editSomething(store);
    await flow.submit();
    assert.deepEqual(failure()[2].map(([label]) => label), ["Take the crop back and submit", "Download my mask", "Open the next crop (drop my edits)"]);
    await choose("Take the crop back and submit");
    assert.deepEqual(calls.slice(2).map(([what, id]) => [what, id]), [["lease", 1], ["submit", 1], ["next", 5]]);
    assert.deepEqual(calls[3][2].editCounts, { delete: 1 });
    assert.equal(flow.crop.id, 2);
  });

  it("when someone else has the crop, drops the edits only when the labeller agrees", async () => {
    const taken = () => new ApiError("taken", "Another labeller has this crop now.", "Download your mask.");
    const no = flowWith({ submit: [taken()], confirm: false });
    await no.flow.loadNext();
    editSomething(no.store);
    await no.flow.submit();
    assert.deepEqual(no.failure()[2].map(([label]) => label), ["Download my mask", "Open the next crop (drop my edits)"]);
    await no.choose("Open the next crop (drop my edits)");
    assert.equal(no.flow.crop.id, 1);
    assert.equal(no.store.isDirty, true);
    const yes = flowWith({ submit: [taken()] });
    await yes.flow.loadNext();
    editSomething(yes.store);
    await yes.flow.submit();
    await yes.choose("Open the next crop (drop my edits)");
    assert.equal(yes.flow.crop.id, 2);
  });

  it("skips after asking when there are edits, and offers to retry a failed skip", async () => {
    const declined = flowWith({ confirm: false });
    await declined.flow.loadNext();
    editSomething(declined.store);
    await declined.flow.skip();
    assert.deepEqual(declined.calls, [["next", 5]]);
    const { flow, store, failure, choose, shown } = flowWith({ skip: [new ApiError("server", "The server failed.", "Try again later.", 500)] });
    await flow.loadNext();
    await flow.skip();
    assert.ok(!shown.some(([what]) => what === "confirm"), "nothing to lose: no question");
    assert.equal(failure()[1], "Not skipped. The server failed. Try again later.");
    await choose("Try skipping again");
    assert.equal(flow.crop.id, 2);
    assert.equal(store.isDirty, false);
  });

  it("submits when the accept-all tool asks", async () => {
    const { flow, store, calls } = flowWith();
    await flow.loadNext();
    store.command("accept-all");
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(calls.map(([what]) => what), ["next", "submit", "next"]);
    flow.destroy();
    store.command("accept-all");
    assert.equal(calls.length, 3);
  });
});

describe("labelling flow: what the labeller is told", () => {
  it("shows the reviewer's name and comment on a returned crop until the next crop opens", async () => {
    const returned = { labelMap: labelMapFromRows(picture("3...", "3...")), version: 2, reviewState: "returned", reviewedByName: "rita",
      reviewComment: "The two cells at the top are one." };
    const { flow, shown } = flowWith({ next: [cropNumbered(1, { currentAnnotation: returned }), cropNumbered(2)] });
    await flow.loadNext();
    assert.deepEqual(shown.filter(([what]) => what === "note").at(-1), ["note", { title: "Returned to you by rita", text: "The two cells at the top are one." }]);
    await flow.submit();
    assert.deepEqual(shown.filter(([what]) => what === "note").at(-1), ["note", null]);
  });

  it("says when a crop is served for a second, independent label", () => {
    const crop = cropNumbered(4, { blind: true });
    assert.match(describeCrop(crop, modelMarks(crop)), / · a second, independent label: the first labeller's mask is hidden · prediction by model v3/);
  });
});

describe("what editing starts from", () => {
  it("is the saved mask, else the prediction, else an empty map of the crop's size", () => {
    const map = (v) => decodeRle({ encoding: "rle", height: 1, width: 2, runs: [v, 2] });
    const crop = { width: 2, height: 1, currentAnnotation: { labelMap: map(4), version: 1 }, prediction: { labelMap: map(9) } };
    assert.equal(startingMap(crop).data[0], 4);
    assert.equal(startingMap({ ...crop, currentAnnotation: null }).data[0], 9);
    const empty = startingMap({ ...crop, currentAnnotation: null, prediction: null });
    assert.deepEqual([empty.width, empty.height, empty.data[0]], [2, 1, 0]);
  });

  it("shows the model's marks only over its own prediction, and counts them in the info line", () => {
    const places = [{ x: 1, y: 1, radius: 2 }, { x: 3, y: 1, radius: 2 }];
    const crop = cropNumbered(9, { prediction: { ...cropNumbered(9).prediction, uncertainCells: [1, 2], missedPlaces: places } });
    const marks = modelMarks(crop);
    assert.deepEqual([[...marks.flagged], marks.places], [[1, 2], places]);
    const info = describeCrop(crop, marks);
    assert.match(info, /the 2 cells the model is least sure of are outlined in red · the 2 places where it may have missed a cell are circled in yellow$/);
    const saved = { ...crop, currentAnnotation: { labelMap: crop.prediction.labelMap, version: 4 } };
    const none = modelMarks(saved);
    assert.deepEqual([none.flagged.size, none.places], [0, []]);
    assert.match(describeCrop(saved, none), /correcting saved version 4$/);
    assert.match(describeCrop({ ...crop, prediction: null, imageName: "", rank: null, score: null }, none), /^Crop 9 · 4×2 · no prediction yet: draw the cells$/);
  });
});
