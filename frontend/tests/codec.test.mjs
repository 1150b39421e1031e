import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";

import { decodeRle, encodeRle, MaskFormatError } from "../static/frontend/editor/codec.js";
import { LabelMap, labelMapFromRows, labelMapToRows } from "../static/frontend/editor/labelmap.js";
import { fixture } from "./helpers.mjs";

describe("RLE codec (twin of annotations/masks.py)", () => {
  it("encodes row-major [id, length] pairs with maximal runs", () => {
    const map = labelMapFromRows([[0, 0, 7], [7, 7, 0]]);
    assert.deepEqual(encodeRle(map), { encoding: "rle", height: 2, width: 3, runs: [0, 2, 7, 3, 0, 1] });
  });

  it("round-trips edge cases", () => {
    const cases = [
      new LabelMap(0, 0),
      new LabelMap(5, 3),
      new LabelMap(2, 2, new Uint16Array(4).fill(65535)),
      new LabelMap(4, 3, Uint16Array.from({ length: 12 }, (_, i) => i)),
    ];
    for (const map of cases) assert.deepEqual(decodeRle(encodeRle(map)), map);
  });

  it("accepts non-maximal runs, as the server does", () => {
    const map = decodeRle({ encoding: "rle", height: 1, width: 4, runs: [3, 1, 3, 1, 0, 2] });
    assert.deepEqual([...map.data], [3, 3, 0, 0]);
  });

  it("reads the Python-made crop fixture into exactly its labels, and writes the same RLE back", () => {
    const { rle, labels } = fixture("u2os_crop.json");
    const map = decodeRle(rle);
    assert.deepEqual(labelMapToRows(map), labels);
    assert.deepEqual(encodeRle(map), rle);
  });

  it("reads a whole real mask from Python byte for byte", () => {
    const rle = fixture("u2os_full.rle.json");
    const meta = fixture("u2os_full.meta.json");
    const map = decodeRle(rle, { width: meta.width, height: meta.height });
    const bytes = Buffer.from(map.data.buffer, map.data.byteOffset, map.data.byteLength); // little-endian
    assert.equal(createHash("sha256").update(bytes).digest("hex"), meta.sha256_uint16le);
    const areas = {};
    for (const id of map.data) if (id) areas[id] = (areas[id] ?? 0) + 1;
    assert.deepEqual(areas, Object.fromEntries(Object.entries(meta.areas)));
    assert.deepEqual(encodeRle(map), rle);
  });

  const bad = [
    [{ encoding: "png" }, /must be an object/],
    [null, /must be an object/],
    [{ encoding: "rle", height: 2, width: 2, runs: [1, 3] }, /cover 3 pixels, expected 4/],
    [{ encoding: "rle", height: 2, width: 2, runs: [1, 4, 2] }, /pairs/],
    [{ encoding: "rle", height: 1, width: 2, runs: [1.5, 2] }, /non-integer/],
    [{ encoding: "rle", height: 1, width: 2, runs: [70000, 2] }, /0\.\.65535/],
    [{ encoding: "rle", height: 1, width: 2, runs: [-1, 2] }, /0\.\.65535/],
    [{ encoding: "rle", height: 1, width: 2, runs: [1, 0, 1, 2] }, /positive/],
    [{ encoding: "rle", height: "2", width: 2, runs: [] }, /integer height and width/],
    [{ encoding: "rle", height: 1, width: 1, runs: "1,1" }, /integer height and width/],
  ];
  for (const [payload, message] of bad) {
    it(`refuses ${JSON.stringify(payload)}`, () => {
      assert.throws(() => decodeRle(payload), (error) => error instanceof MaskFormatError && message.test(error.message));
    });
  }

  it("refuses a mask of another size than the crop", () => {
    const rle = encodeRle(new LabelMap(3, 2));
    assert.throws(() => decodeRle(rle, { width: 4, height: 2 }), /mask is 3x2 but the crop is 4x2/);
  });
});

describe("the browser's masks, as the server will read them", () => {
  it("a replayed editing session still makes exactly fixtures/editor_edits.json", async () => {
    const { replayEdits } = await import("./fixture_edits.mjs");
    const { result } = replayEdits();
    const saved = fixture("editor_edits.json");
    assert.deepEqual(result.labels, saved.labels, "regenerate with node frontend/tests/fixtures/make_js_fixture.mjs if the change is intended");
    assert.deepEqual(result.rle, saved.rle);
    assert.deepEqual(result.edit_counts, saved.edit_counts);
  });
});
