import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ApiError, MAX_PLACES, MAX_SECONDS_SPENT, createApi, csrfToken, missedPlaces, mostUncertain, submissionToJson } from "../static/frontend/editor/api.js";
import { decodeRle } from "../static/frontend/editor/codec.js";
import { labelMapToRows } from "../static/frontend/editor/labelmap.js";
import { fixture } from "./helpers.mjs";

/** A fetch that records requests and answers from a list. */
function fakeFetch(...answers) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init, body: init.body ? JSON.parse(init.body) : undefined });
    const answer = answers.shift();
    if (answer instanceof Error) throw answer;
    const { status = 200, json } = answer;
    return new Response(json === undefined ? null : JSON.stringify(json), { status, headers: { "Content-Type": "application/json" } });
  };
  return { fetch, calls };
}

const cropJson = () => {
  const { rle } = fixture("u2os_crop.json");
  return {
    id: 12, project: 3, width: rle.width, height: rle.height, display_url: "/api/crops/12/display/",
    image_name: "a.png", queue_score: 0.75, queue_reason: "uncertainty", lease_expires_at: "2026-01-01T00:00:00Z",
    current_annotation: null,
    prediction: { id: 5, model_version: { id: 7, number: 3, status: "active" }, n_cells: 11, mask: rle,
      cell_uncertainty: { 189: 0.9, 304: 0.1, 100: 0.5 }, possible_missed_cells: [[30.5, 12.5, 6.2], [4.5, 8.5, 3.1]] },
  };
};

describe("API adapter", () => {
  it("asks for the next crop with the CSRF token and reads it, prediction decoded", async () => {
    const { fetch, calls } = fakeFetch({ json: cropJson() });
    const api = createApi({ fetch, cookies: () => "sessionid=abc; csrftoken=t0k%3Den" });
    const crop = await api.nextCrop(3);
    assert.equal(calls[0].url, "/api/projects/3/next/");
    assert.equal(calls[0].init.method, "POST");
    assert.equal(calls[0].init.headers["X-CSRFToken"], "t0k=en");
    assert.equal(calls[0].init.credentials, "same-origin");
    assert.deepEqual([crop.id, crop.imageUrl, crop.score, crop.reason], [12, "/api/crops/12/display/", 0.75, "uncertainty"]);
    assert.equal(crop.prediction.modelVersionId, 7);
    assert.equal(crop.prediction.modelVersionName, "model v3");
    assert.deepEqual(crop.prediction.uncertainCells, [189]);
    assert.deepEqual(crop.prediction.missedPlaces, [{ x: 30.5, y: 12.5, radius: 6.2 }, { x: 4.5, y: 8.5, radius: 3.1 }]);
    assert.deepEqual(labelMapToRows(crop.prediction.labelMap), fixture("u2os_crop.json").labels);
    assert.equal(crop.currentAnnotation, null);
  });

  it("reads an empty queue (204) as null", async () => {
    const { fetch } = fakeFetch({ status: 204 });
    assert.equal(await createApi({ fetch, cookies: () => "" }).nextCrop(1), null);
  });

  it("starts from the crop's saved mask when it has one", async () => {
    const json = { ...cropJson(), current_annotation: { version: 2, mask: { encoding: "rle", height: 40, width: 48, runs: [5, 1920] } } };
    const { fetch } = fakeFetch({ json });
    const crop = await createApi({ fetch, cookies: () => "" }).nextCrop(1);
    assert.equal(crop.currentAnnotation.version, 2);
    assert.equal(crop.currentAnnotation.labelMap.data[100], 5);
  });

  it("submits the mask as RLE with time, edit counts and the model version it started from", async () => {
    const { fetch, calls } = fakeFetch({ status: 201, json: { id: 1, version: 1 } });
    const labelMap = decodeRle(fixture("u2os_crop.json").rle);
    await createApi({ fetch, cookies: () => "csrftoken=x" }).submit(12, {
      labelMap, secondsSpent: 42.123, editCounts: { delete: 2, lasso: 1 }, startedFrom: 7,
    });
    assert.equal(calls[0].url, "/api/crops/12/annotations/");
    assert.deepEqual(calls[0].body, {
      mask: fixture("u2os_crop.json").rle, seconds_spent: 42.1, edit_counts: { delete: 2, lasso: 1 }, started_from: 7,
    });
  });

  const failures = [
    [new TypeError("Failed to fetch"), "network", /Could not reach the server/, /connection/],
    [{ status: 409, json: { detail: "your lease on crop 12 expired at ...", code: "lease_expired" } }, "expired", /ran out.*lease on crop 12 expired/, /Take the crop back/],
    [{ status: 409, json: { detail: "crop 12 is leased by another labeller", code: "leased_by_other" } }, "taken", /Another labeller/, /Download/],
    [{ status: 403, json: { detail: "Authentication credentials were not provided." } }, "auth", /logged out/, /Log in again/],
    [{ status: 500 }, "server", /error 500/, /Try again/],
    [{ status: 400, json: { detail: "mask runs cover 3 pixels, expected 4", code: "bad_mask" } }, "invalid", /cover 3 pixels/, /Download/],
  ];
  for (const [answer, kind, message, advice] of failures) {
    it(`says what happened and what to do on ${kind} failures`, async () => {
      const { fetch } = fakeFetch(answer);
      const api = createApi({ fetch, cookies: () => "" });
      const labelMap = decodeRle({ encoding: "rle", height: 1, width: 1, runs: [0, 1] });
      await assert.rejects(api.submit(1, { labelMap, secondsSpent: 1, editCounts: {}, startedFrom: null }), (error) => {
        assert.ok(error instanceof ApiError);
        assert.equal(error.kind, kind);
        assert.match(error.message, message);
        assert.match(error.advice, advice);
        return true;
      });
    });
  }

  it("reads who saved the crop's mask, its review and whether the crop is served blind", async () => {
    const annotation = {
      id: 40, crop: 12, version: 2, author_name: "lee", created_at: "2026-12-06T09:00:00Z", n_cells: 1,
      edit_counts: { delete: 2, lasso: 1 }, review_state: "returned", reviewed_by_name: "rita",
      review_comment: "merge the top two", mask: { encoding: "rle", height: 40, width: 48, runs: [5, 1920] },
    };
    const { fetch } = fakeFetch({ json: { ...cropJson(), current_annotation: annotation } }, { json: { ...cropJson(), blind: true } });
    const api = createApi({ fetch, cookies: () => "" });
    const { currentAnnotation: saved, blind } = await api.nextCrop(1);
    assert.deepEqual({ ...saved, labelMap: undefined }, {
      id: 40, cropId: 12, version: 2, authorName: "lee", createdAt: "2026-12-06T09:00:00Z", nCells: 1, predictionDifference: null,
      actions: 3, reviewState: "returned", reviewedByName: "rita", reviewComment: "merge the top two", labelMap: undefined,
    });
    assert.equal(blind, false);
    assert.equal((await api.nextCrop(1)).blind, true);
  });

  it("reads the review queue, decides on an annotation and gives a lease back", async () => {
    const summary = { id: 40, crop: 12, version: 1, author_name: "lee", n_cells: 9, prediction_difference: 4, edit_counts: { brush: 2 },
      created_at: "2026-12-06T09:00:00Z", review_state: "submitted", reviewed_by_name: null, review_comment: "" };
    const { fetch, calls } = fakeFetch({ json: { count: 1, next: null, previous: null, results: [summary] } },
      { json: { ...summary, review_state: "returned", review_comment: "merge" } }, { status: 204 });
    const api = createApi({ fetch, cookies: () => "csrftoken=x" });
    const page = await api.reviewQueue(3, { order: "difference", limit: 10, offset: 20 });
    assert.equal(calls[0].url, "/api/projects/3/reviews/?state=submitted&order=difference&limit=10&offset=20");
    assert.equal(calls[0].init.method, "GET");
    assert.equal(calls[0].init.body, undefined);
    assert.deepEqual([page.count, page.results[0].cropId, page.results[0].predictionDifference, page.results[0].actions], [1, 12, 4, 2]);
    const decided = await api.review(40, "return", "merge");
    assert.deepEqual([calls[1].url, calls[1].body, calls[1].init.headers["X-CSRFToken"]], ["/api/annotations/40/review/", { action: "return", comment: "merge" }, "x"]);
    assert.deepEqual([decided.reviewState, decided.reviewComment], ["returned", "merge"]);
    await api.release(12);
    assert.equal(calls[2].url, "/api/crops/12/release/");
  });

  it("skips and leases crops", async () => {
    const { fetch, calls } = fakeFetch({ status: 204 }, { json: cropJson() });
    const api = createApi({ fetch, cookies: () => "" });
    await api.skip(12);
    const crop = await api.lease(12);
    assert.deepEqual(calls.map((c) => c.url), ["/api/crops/12/skip/", "/api/crops/12/lease/"]);
    assert.equal(crop.id, 12);
  });

  it("reads the CSRF cookie and picks the most uncertain cells", () => {
    assert.equal(csrfToken("a=1; csrftoken=abc; b=2"), "abc");
    assert.equal(csrfToken(""), "");
    const scores = Object.fromEntries(Array.from({ length: 30 }, (_, k) => [k + 1, k / 30]));
    assert.deepEqual(mostUncertain(scores), [30, 29, 28]);
    assert.deepEqual(mostUncertain([4, 5]), [4, 5]);
    assert.deepEqual(mostUncertain(null), []);
    assert.deepEqual(missedPlaces(undefined), [], "an older server sends none");
    assert.deepEqual(missedPlaces([[1, 2, 3], [1, "x", 3], [1, 2], "a", [5, 6, -1]]),
      [{ x: 1, y: 2, radius: 3 }, { x: 5, y: 6, radius: 0 }], "malformed entries dropped");
    assert.equal(missedPlaces(Array.from({ length: 50 }, (_, k) => [k, k, 5])).length, MAX_PLACES);
    assert.equal(submissionToJson({ labelMap: decodeRle({ encoding: "rle", height: 1, width: 2, runs: [3, 2] }), secondsSpent: 1, editCounts: {}, startedFrom: null }).mask.runs[0], 3);
    const overnight = submissionToJson({ labelMap: decodeRle({ encoding: "rle", height: 1, width: 2, runs: [3, 2] }), secondsSpent: 2 * MAX_SECONDS_SPENT, editCounts: {}, startedFrom: null });
    assert.equal(overnight.seconds_spent, MAX_SECONDS_SPENT, "a tab left open overnight still submits (the server takes at most a day)");
  });
});
