import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ApiError, createApi } from "../static/frontend/editor/api.js";
import { Assistant, MAX_QUEUED } from "../static/frontend/editor/assist.js";
import { binaryRle, decodeCells, encodeRle } from "../static/frontend/editor/codec.js";
import { CellIndex, labelMapFromRows, labelMapToRows } from "../static/frontend/editor/labelmap.js";
import { addProposedCell, addProposedCells, redoCell } from "../static/frontend/editor/proposal.js";
import { EditorStore } from "../static/frontend/editor/store.js";
import { createToolRegistry } from "../static/frontend/editor/tools/index.js";
import { centre, picture } from "./helpers.mjs";

/** A proposal as api.js hands it over: the cells of a picture. */
function proposal(rows, extra = {}) {
  const map = labelMapFromRows(rows);
  return { cells: decodeCells(encodeRle(map)), modelVersion: 3, method: "flows", message: null, ...extra };
}

/**
 * The Assist tool on a store showing `rows` (10 screen px per pixel), with an Assistant on a fake
 * API whose answers the test hands over when it likes (answer(), fail()).
 */
function assisted(rows, { places = [] } = {}) {
  const store = new EditorStore({ map: labelMapFromRows(rows) });
  const tools = createToolRegistry();
  const sent = [];
  const api = {
    propose: (cropId, request, shape) => new Promise((resolve, reject) => sent.push({ cropId, request, shape, resolve, reject })),
  };
  const flow = { crop: { id: 7, prediction: { missedPlaces: places }, currentAnnotation: null }, requests: 0 };
  let now = 0;
  const assist = new Assistant({ api, store, flow, now: () => now });
  const messages = [];
  store.subscribe((e) => { if (e.type === "message") messages.push(e.text); });
  const ctx = (extra = {}) => ({ store, paintOver: false, alt: false, scale: 10, clicks: 1, assist, ...extra });
  store.setTool("assist");
  const tool = tools.get("assist");
  const drag = (points, extra) => {
    tool.down(ctx(extra), points[0]);
    for (const p of points.slice(1)) tool.move(ctx(extra), p);
    tool.up(ctx(extra), points.at(-1));
  };
  const click = (p, extra) => drag([p], extra);
  /** let the promise callbacks run */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  const answer = async (rowsOrProposal, ms = 40) => {
    now += ms;
    const request = sent.find((r) => !r.done);
    request.done = true;
    request.resolve(Array.isArray(rowsOrProposal) ? proposal(rowsOrProposal) : rowsOrProposal);
    await settle();
  };
  const fail = async (error) => {
    const request = sent.find((r) => !r.done);
    request.done = true;
    request.reject(error);
    await settle();
  };
  return { store, assist, flow, sent, messages, ctx, drag, click, settle, answer, fail, rows: () => labelMapToRows(store.map) };
}

const MISSED = () => picture(
  "11......",
  "11......",
  "........",
  "........",
  "........",
);
const FOUND = () => picture(
  "........",
  "....11..",
  "...1111.",
  "....11..",
  "........",
);

describe("assist tool: click to add", () => {
  it("asks for the cell at the click; the answer is one new cell, one undo step, counted as click_add", async () => {
    const t = assisted(MISSED());
    t.click(centre(4, 2));
    assert.deepEqual(t.sent.map((r) => [r.cropId, r.request, r.shape]), [[7, { mode: "point", x: 4.5, y: 2.5 }, { width: 8, height: 5 }]]);
    assert.deepEqual(t.rows(), MISSED(), "nothing changes before the answer");
    assert.equal(t.store.waiting.length, 1, "a busy cue at the click while waiting");
    assert.equal(t.store.waiting[0].type, "circle");
    await t.answer(FOUND());
    assert.deepEqual(t.rows(), picture("11......", "11..22..", "...2222.", "....22..", "........"));
    assert.deepEqual([t.store.selected, t.store.editCounts(), t.store.waiting], [2, { click_add: 1 }, []]);
    assert.deepEqual(t.assist.latencies, [40]);
    t.store.undo();
    assert.deepEqual([t.rows(), t.store.editCounts()], [MISSED(), {}]);
  });

  it("takes only unlabelled pixels; Shift takes them all", async () => {
    const rows = picture("........", "...22...", "........", "........", "........");
    const t = assisted(rows);
    t.click(centre(4, 2));
    await t.answer(FOUND());
    assert.deepEqual(t.rows(), picture("........", "...223..", "...3333.", "....33..", "........"));
    const s = assisted(rows);
    s.click(centre(4, 2), { paintOver: true });
    await s.answer(FOUND());
    assert.deepEqual(s.rows(), picture("........", "...233..", "...3333.", "....33..", "........"));
  });

  it("a click on a cell asks nothing and says what to do instead", () => {
    const t = assisted(MISSED());
    t.click(centre(0, 0));
    assert.equal(t.sent.length, 0);
    assert.match(t.messages.at(-1), /cell 1 already: Alt\+click/);
  });

  it("a click in a yellow ring asks about the place it circles", () => {
    const t = assisted(MISSED(), { places: [{ x: 5, y: 2.5, radius: 1 }] });
    t.click({ x: 6.5, y: 3.5 }); // 18 screen px from the place: on its 40 px ring
    assert.deepEqual(t.sent[0].request, { mode: "point", x: 5, y: 2.5 });
  });

  it("when the model finds nothing, says so (the server's words) and changes nothing", async () => {
    const t = assisted(MISSED());
    t.click(centre(5, 3));
    await t.answer(proposal(picture("........", "........", "........", "........", "........"), { message: "no cell found here" }));
    assert.deepEqual([t.rows(), t.store.history.canUndo, t.messages.at(-1)], [MISSED(), false, "no cell found here"]);
  });

  it("tells the page which method answered (classical: no model yet)", async () => {
    const t = assisted(MISSED());
    const events = [];
    t.store.subscribe((e) => { if (e.type === "proposal") events.push(e); });
    t.click(centre(4, 2));
    await t.answer({ ...proposal(FOUND()), method: "classical", modelVersion: null });
    assert.deepEqual(events, [{ type: "proposal", method: "classical", modelVersion: null }]);
  });
});

describe("assist tool: box to add", () => {
  it("a drag asks for a box; every proposed cell clear of existing cells is added as one edit", async () => {
    const t = assisted(MISSED());
    t.drag([{ x: 0.2, y: 0.2 }, { x: 3, y: 2 }, { x: 7.6, y: 4.8 }]);
    assert.equal(t.store.draft, null, "the box is not drawn once released");
    assert.deepEqual(t.sent[0].request, { mode: "box", box: [0.2, 0.2, 7.6, 4.8] });
    assert.equal(t.store.waiting[0].type, "path");
    await t.answer(picture(
      ".11.....",  // overlaps cell 1: left out
      "......22",
      "......22",
      "3.......",
      "3.......",
    ));
    assert.deepEqual(t.rows(), picture("11......", "11....22", "......22", "3.......", "3......."));
    assert.deepEqual(t.store.editCounts(), { box_add: 1 });
    assert.match(t.messages.at(-1), /Added 2 cells; 1 cell overlapping/);
    t.store.undo();
    assert.deepEqual(t.rows(), MISSED());
  });

  it("a tiny drag is a click; Escape drops a box being dragged", () => {
    const t = assisted(MISSED());
    t.drag([centre(4, 2), { x: 4.6, y: 2.6 }]);
    assert.equal(t.sent[0].request.mode, "point");
    const tool = createToolRegistry().get("assist");
    tool.down(t.ctx(), centre(3, 3));
    tool.move(t.ctx(), centre(6, 4));
    assert.equal(t.store.draft.type, "path");
    tool.cancel(t.ctx());
    tool.up(t.ctx(), centre(6, 4));
    assert.deepEqual([t.store.draft, t.sent.length], [null, 1]);
  });
});

describe("assist tool: redo a cell", () => {
  const BAD = () => picture("........", "...11...", "...1....", "........", "....22..");

  it("Alt+click sends the cell; the answer replaces it, keeping its id and other cells' pixels", async () => {
    const t = assisted(BAD());
    t.click(centre(3, 1), { alt: true });
    const { request } = t.sent[0];
    assert.deepEqual([request.mode, request.x, request.y], ["redo", 3.5, 1.5]);
    assert.deepEqual([...decodeCells(request.cell, { width: 8, height: 5 }).get(1)], [11, 12, 19]);
    await t.answer(picture("........", "...111..", "...111..", "...111..", "...111.."));
    assert.deepEqual(t.rows(), picture("........", "...111..", "...111..", "...111..", "...122.."));
    assert.deepEqual([t.store.selected, t.store.editCounts()], [1, { redo: 1 }]);
    t.store.undo();
    assert.deepEqual(t.rows(), BAD());
  });

  it("when the model proposes nothing better, says so and changes nothing", async () => {
    const t = assisted(BAD());
    t.click(centre(3, 1), { alt: true });
    await t.answer(proposal(picture("........", "........", "........", "........", "........"),
      { message: "the model proposes nothing better for this cell" }));
    assert.deepEqual([t.rows(), t.store.history.canUndo], [BAD(), false]);
    assert.equal(t.messages.at(-1), "the model proposes nothing better for this cell");
    const same = assisted(BAD());
    same.click(centre(3, 1), { alt: true });
    await same.answer(picture("........", "...11...", "...1....", "........", "........"));
    assert.deepEqual([same.store.history.canUndo, same.messages.at(-1)], [false, "The model proposes nothing better for this cell."]);
  });

  it("Alt+click on the background asks nothing", () => {
    const t = assisted(BAD());
    t.click(centre(0, 0), { alt: true });
    assert.equal(t.sent.length, 0);
  });
});

describe("assist: one request at a time, late answers dropped", () => {
  it("a second click while one is out waits, and is sent when the first is answered", async () => {
    const t = assisted(MISSED());
    t.click(centre(4, 2));
    t.click(centre(7, 4));
    assert.equal(t.sent.length, 1, "not sent while the first is out (the server would answer 429)");
    assert.equal(t.store.waiting.length, 2);
    await t.answer(FOUND());
    assert.deepEqual(t.sent.map((r) => r.request.x), [4.5, 7.5]);
    await t.answer(picture("........", "........", "........", ".......5", ".......5"));
    assert.deepEqual([t.store.index.count, t.store.editCounts(), t.store.history.done.length], [3, { click_add: 2 }, 2]);
  });

  it(`refuses more than ${MAX_QUEUED} waiting clicks with a word`, () => {
    const t = assisted(MISSED());
    for (let k = 0; k < MAX_QUEUED + 2; k++) t.click(centre(3 + (k % 4), 3));
    assert.equal(t.assist.waiting, MAX_QUEUED + 1);
    assert.match(t.messages.at(-1), /still working/);
  });

  it("drops an answer that arrives after another crop opened, and the clicks queued behind it", async () => {
    const t = assisted(MISSED());
    t.click(centre(4, 2));
    t.click(centre(6, 4));
    t.flow.crop = { id: 8, prediction: null, currentAnnotation: null };
    t.store.load(labelMapFromRows(MISSED()));
    assert.deepEqual(t.store.waiting, []);
    await t.answer(FOUND());
    assert.deepEqual([t.rows(), t.sent.length, t.store.history.canUndo], [MISSED(), 1, false]);
  });

  it("drops an answer that arrives after a submit started (the mask has gone)", async () => {
    const t = assisted(MISSED());
    t.click(centre(4, 2));
    t.flow.requests++; // flow.js counts its requests: submit, skip, lease, open
    await t.answer(FOUND());
    assert.deepEqual([t.rows(), t.store.history.canUndo], [MISSED(), false]);
  });

  it("answers late to a crop change, but waits for the stale request before sending the next", async () => {
    const t = assisted(MISSED());
    t.click(centre(4, 2));
    t.store.load(labelMapFromRows(MISSED()));
    t.click(centre(5, 3));
    assert.equal(t.sent.length, 1);
    await t.answer(FOUND());
    assert.equal(t.sent.length, 2);
    await t.answer(FOUND());
    assert.deepEqual(t.store.editCounts(), { click_add: 1 });
  });

  it("a failed request says why, changes nothing, and the next one goes out", async () => {
    const t = assisted(MISSED());
    t.click(centre(4, 2));
    t.click(centre(5, 3));
    await t.fail(new ApiError("invalid", "busy", "", 429, "proposal_busy"));
    assert.match(t.messages.at(-1), /still working on an earlier request/);
    assert.equal(t.sent.length, 2);
    await t.fail(new ApiError("expired", "Your hold on this crop ran out.", "", 409, "lease_expired"));
    assert.match(t.messages.at(-1), /hold on this crop ran out/);
    assert.deepEqual([t.rows(), t.store.waiting], [MISSED(), []]);
  });
});

describe("proposal edits", () => {
  it("click add picks the proposed cell under the point, else the largest", () => {
    const map = labelMapFromRows(picture("....", "...."));
    const index = CellIndex.build(map);
    const p = proposal(picture("1..2", "..22"));
    assert.deepEqual([...addProposedCell(map, index, p, centre(0, 0)).diff.indices], [0]);
    assert.deepEqual([...addProposedCell(map, index, p, centre(1, 1)).diff.indices], [3, 6, 7]);
  });

  it("box add keeps a proposed cell that only grazes a neighbour, minus the shared pixels", () => {
    const map = labelMapFromRows(picture("1...........", "............"));
    const result = addProposedCells(map, CellIndex.build(map), proposal(picture("111111111111", "....22......")));
    assert.deepEqual([...result.diff.indices], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 17]); // 1 of 12 shared: added
    const most = labelMapFromRows(picture("11..........", "............"));
    const kept = addProposedCells(most, CellIndex.build(most), proposal(picture("111111111111", "....22......")));
    assert.deepEqual([...kept.diff.indices], [16, 17]); // 2 of 12 shared: left out
  });

  it("box add with Shift takes every proposed cell over existing ones", () => {
    const map = labelMapFromRows(picture("11..", "...."));
    const index = CellIndex.build(map);
    const result = addProposedCells(map, index, proposal(picture("22..", "..11")), { paintOver: true });
    assert.deepEqual([...result.diff.indices, ...result.diff.after], [0, 1, 6, 7, 3, 3, 2, 2]);
  });

  it("redo of a cell deleted meanwhile changes nothing", () => {
    const map = labelMapFromRows(picture("....", "...."));
    const result = redoCell(map, CellIndex.build(map), 4, proposal(picture("11..", "....")), centre(0, 0));
    assert.equal(result.diff, null);
    assert.match(result.message, /deleted/);
  });
});

describe("propose over HTTP", () => {
  it("posts the request to the crop's propose endpoint and decodes the cells", async () => {
    const calls = [];
    const mask = encodeRle(labelMapFromRows(picture("..1", ".11")));
    const fetch = async (url, init) => {
      calls.push({ url, body: JSON.parse(init.body) });
      return new Response(JSON.stringify({ mask, cells: 1, model_version: 4, method: "classical", message: "no model yet" }), { status: 200 });
    };
    const api = createApi({ fetch, cookies: () => "" });
    const answer = await api.propose(9, { mode: "point", x: 2.5, y: 0.5 }, { width: 3, height: 2 });
    assert.deepEqual(calls, [{ url: "/api/crops/9/propose/", body: { mode: "point", x: 2.5, y: 0.5 } }]);
    assert.deepEqual([[...answer.cells.get(1)], answer.modelVersion, answer.method, answer.message], [[2, 4, 5], 4, "classical", "No model yet"]);
  });

  it("a busy server is an ApiError with status 429", async () => {
    const fetch = async () => new Response(JSON.stringify({ detail: "busy", code: "proposal_busy" }), { status: 429 });
    const api = createApi({ fetch, cookies: () => "" });
    await assert.rejects(api.propose(9, { mode: "box", box: [0, 0, 2, 2] }, { width: 3, height: 2 }),
      (error) => error instanceof ApiError && error.status === 429 && error.code === "proposal_busy");
  });

  it("binaryRle encodes a cell as the server's RLE, runs maximal", () => {
    assert.deepEqual(binaryRle(Uint32Array.from([1, 2, 5]), 3, 2).runs, [0, 1, 1, 2, 0, 2, 1, 1]);
    assert.deepEqual(binaryRle(new Uint32Array(0), 2, 1).runs, [0, 2]);
    assert.deepEqual(binaryRle(Uint32Array.from([0, 1]), 2, 1).runs, [1, 2]);
  });
});
