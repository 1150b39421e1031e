// The Upload and Export pages' words for background jobs, their polling, the export request and
// the problems of a refused one (frontend/static/frontend/admin/jobs.js).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  expired, exportBody, failureText, fieldErrors, followJob, guessFormat, importText, ingestText, isJob, exportContents,
  pollDelay, progressFraction, progressText, tookText,
} from "../static/frontend/admin/jobs.js";

const running = (progress, extra = {}) => ({ id: 7, kind: "ingest", status: "running", progress, ...extra });

describe("a job's progress", () => {
  it("names the stage and how far it is, from whatever keys have arrived", () => {
    assert.equal(progressText(running({ stage: "tiling", done: 3, total: 12 })), "tiling: 3 of 12");
    assert.equal(progressText(running({ stage: "storing" })), "storing");
    assert.equal(progressText(running({ done: 0, total: 4 })), "0 of 4");
    assert.equal(progressText(running({})), "starting…");
    assert.equal(progressText(running(null)), "starting…");
    assert.equal(progressText(running({ stage: "writing", done: 1, total: 2 }, { cancel_requested: true })),
      "writing: 1 of 2 (cancelling)");
  });

  it("says a queued job waits for a worker, and an ended one its status", () => {
    assert.equal(progressText({ status: "queued", progress: {} }), "waiting for a worker…");
    assert.equal(progressText({ status: "failed" }), "failed");
  });

  it("gives the share done only when the job said how much there is", () => {
    assert.equal(progressFraction(running({ done: 3, total: 12 })), 0.25);
    assert.equal(progressFraction(running({ done: 30, total: 12 })), 1);
    assert.equal(progressFraction(running({ stage: "storing" })), null);
    assert.equal(progressFraction(running({ done: 0, total: 0 })), null);
    assert.equal(progressFraction({ status: "succeeded", progress: {} }), 1);
  });

  it("says how long an ended job ran", () => {
    assert.equal(tookText({ started_at: "2026-12-06T12:00:00Z", finished_at: "2026-12-06T12:00:03.6Z" }), "took 4 s");
    assert.equal(tookText({ started_at: "2026-12-06T12:00:00Z", finished_at: "2026-12-06T12:03:00Z" }), "took 3.0 min");
    assert.equal(tookText({ started_at: "2026-12-06T12:00:00Z", finished_at: "2026-12-06T12:00:00.4Z" }), "took under a second");
    assert.equal(tookText({ started_at: null, finished_at: "2026-12-06T12:00:00Z" }), "");
  });

  it("asks about once a second, backing off while nothing changes, up to a limit", () => {
    assert.equal(pollDelay(0), 1000);
    assert.equal(pollDelay(1), 1250);
    assert.ok(pollDelay(3) > pollDelay(2));
    assert.equal(pollDelay(50), 4000);
    assert.equal(pollDelay(50, 2500), 2500);
  });
});

describe("following a job", () => {
  /** A fake server answering the given jobs in turn, and a clock that records the waits. */
  function fake(answers) {
    const waits = [], seen = [];
    let calls = 0;
    return {
      waits, seen,
      get: async (id) => {
        assert.equal(id, 7);
        const answer = answers[Math.min(calls++, answers.length - 1)];
        if (answer instanceof Error) throw answer;
        return answer;
      },
      sleep: async (ms) => { waits.push(ms); },
      onUpdate: (job) => seen.push(progressText(job)),
    };
  }

  it("polls until the job ends and hands back the ended job, backing off while it stands still", async () => {
    const first = { id: 7, kind: "ingest", status: "queued", progress: {} };
    const f = fake([
      running({ stage: "storing" }), running({ stage: "storing" }), running({ stage: "tiling", done: 1, total: 2 }),
      { id: 7, kind: "ingest", status: "succeeded", progress: {}, result: { created: true, crops: 2 } },
    ]);
    const job = await followJob(7, { ...f, first });
    assert.equal(job.status, "succeeded");
    assert.deepEqual(f.seen, ["waiting for a worker…", "storing", "storing", "tiling: 1 of 2", "succeeded"]);
    assert.deepEqual(f.waits, [1000, 1000, 1250, 1000]);
  });

  it("asks at once without a first answer, and keeps asking after a failed request", async () => {
    const errors = [];
    const f = fake([new Error("offline"), { id: 7, kind: "import", status: "failed", error: "c.json: bad", progress: {} }]);
    const job = await followJob(7, { ...f, onError: (e) => errors.push(e.message) });
    assert.equal(failureText(job), "c.json: bad");
    assert.deepEqual(errors, ["offline"]);
    assert.equal(f.waits.length, 1);
  });

  it("stops when told to", async () => {
    const f = fake([running({})]);
    let n = 0;
    const job = await followJob(7, { ...f, first: running({}), stopped: () => ++n > 2 });
    assert.equal(job.status, "running");
  });
});

describe("results in words", () => {
  it("tells a new image from one the project had", () => {
    assert.equal(ingestText({ created: true, crops: 12, imported_annotations: 0 }), "added: 12 crops");
    assert.equal(ingestText({ created: true, crops: 12, imported_annotations: 12 }),
      "added: 12 crops, 12 labelled from the label image");
    assert.equal(ingestText({ created: true, crops: 1 }), "added: 1 crop");
    assert.equal(ingestText({ created: false, crops: 12 }), "already in the project (12 crops)");
  });

  it("sums up an import report, labels or predictions", () => {
    const report = { format: "coco", mode: "labels", images_created: 2, images_existing: 1, annotations: 24,
      predictions: 0, cells: 310, contested_pixels: 0, dropped_objects: ["c.json: annotation 4 lost all pixels"],
      crowd_annotations_skipped: 0, model_version: null };
    assert.equal(importText(report), "2 images added, 1 already in the project · 24 annotations · 310 cells · 1 object dropped");
    assert.equal(importText({ ...report, mode: "predictions", images_created: 0, images_existing: 0, annotations: 0,
      predictions: 5, model_version: 3, dropped_objects: [] }), "no images · 5 predictions as model version v3 · 310 cells");
  });

  it("guesses the import format from the file name where it can", () => {
    assert.equal(guessFormat("cells.GeoJSON"), "geojson");
    assert.equal(guessFormat("instances.json"), "coco");
    assert.equal(guessFormat("bundle.zip"), "");
  });

  it("counts what an export holds, and knows when its file has expired", () => {
    assert.equal(exportContents({ counts: { images: 3, annotations: 40, cells_in_crops: 512 } }),
      "3 images, 40 annotations, 512 cells");
    assert.equal(exportContents({ manifest: { counts: { images: 1, annotations: 1 } } }), "1 image, 1 annotation");
    assert.equal(exportContents(undefined), "");
    const result = { expires_at: "2026-12-07T12:00:00Z" };
    assert.equal(expired(result, new Date("2026-12-07T11:59:59Z")), false);
    assert.equal(expired(result, new Date("2026-12-07T12:00:00Z")), true);
    assert.equal(expired({ ...result, expired: true }, new Date("2026-12-07T11:00:00Z")), true);
    assert.equal(expired({}), false);
  });

  it("tells a queued job from a finished result", () => {
    assert.equal(isJob({ id: 1, kind: "ingest", status: "queued" }), true);
    assert.equal(isJob({ image: 1, created: true, crops: 3 }), false);
    assert.equal(isJob(null), false);
    assert.equal(failureText({ status: "cancelled" }), "Cancelled.");
    assert.equal(failureText({ status: "failed", error: "" }), "The job failed.");
  });
});

describe("the export request", () => {
  it("names the options as the API does, leaving empty ones to the server's defaults", () => {
    assert.deepEqual(exportBody({ formats: ["cellpose", "coco"], split: "", tag: " ", since: "2026-12-01", until: "",
      current_only: true, images: false, model: "active" }),
    { format: "cellpose,coco", since: "2026-12-01", current_only: true, images: false, model: "active" });
    assert.deepEqual(exportBody({ formats: [] }), { format: "" });
  });

  it("reads the problems of a refusal by field, in DRF's shape and in the domain errors'", () => {
    assert.deepEqual(fieldErrors({ split: ["split must be one of train, validation, got 'test'"], non_field_errors: ["no"] }),
      { fields: { split: ["split must be one of train, validation, got 'test'"] }, general: ["no"] });
    assert.deepEqual(fieldErrors({ detail: "until: bad", code: "bad_filter", fields: { until: ["bad"], since: ["worse"] } }),
      { fields: { until: ["bad"], since: ["worse"] }, general: [] });
    assert.deepEqual(fieldErrors({ detail: "Project is busy.", code: "busy" }), { fields: {}, general: ["Project is busy."] });
    assert.deepEqual(fieldErrors({ format: "name at least one format" }), { fields: { format: ["name at least one format"] }, general: [] });
    assert.deepEqual(fieldErrors(null), { fields: {}, general: [] });
  });

  it("gives a bare detail to the field it starts with, when the form has that field", () => {
    const known = ["format", "split", "since", "until", "images"];
    assert.deepEqual(fieldErrors({ detail: "split must be one of train, validation, got 'test'", code: "bad_filter" }, known),
      { fields: { split: ["split must be one of train, validation, got 'test'"] }, general: [] });
    assert.deepEqual(fieldErrors({ detail: "image_format must be one of tif, png", code: "bad_export" }, known),
      { fields: {}, general: ["image_format must be one of tif, png"] });
  });
});
