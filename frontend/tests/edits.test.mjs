import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { applyDiff } from "../static/frontend/editor/diff.js";
import {
  deleteCell, drawCell, erasePixels, fillHoles, mergeCells, paintPixels, splitCell,
} from "../static/frontend/editor/edits.js";
import { discPixels, shapePixels } from "../static/frontend/editor/geometry.js";
import { CellIndex, labelMapFromRows, labelMapToRows } from "../static/frontend/editor/labelmap.js";
import { centre, picture } from "./helpers.mjs";

/** Apply an edit result to a copy and give back the rows. */
function after(map, result) {
  assert.ok(result.diff, result.message);
  const copy = map.clone();
  applyDiff(copy, result.diff);
  return labelMapToRows(copy);
}

const setup = (...rows) => {
  const map = labelMapFromRows(picture(...rows));
  return { map, index: CellIndex.build(map) };
};

describe("the overlap rule", () => {
  const { map, index } = setup(
    "......",
    ".11...",
    ".11...",
    "......");
  const square = [centre(0, 0), centre(3, 0), centre(3, 3), centre(0, 3)];

  it("gives a new cell drawn over another only the unlabelled pixels", () => {
    const result = drawCell(map, index, shapePixels(square, 6, 4), "lasso");
    assert.equal(result.select, 2);
    assert.deepEqual(after(map, result), picture(
      "2222..",
      "2112..",
      "2112..",
      "2222.."));
  });

  it("takes every pixel of the shape when painting over (Shift)", () => {
    const result = drawCell(map, index, shapePixels(square, 6, 4), "lasso", { paintOver: true });
    assert.deepEqual(after(map, result), picture(
      "2222..",
      "2222..",
      "2222..",
      "2222.."));
  });

  it("changes nothing, and says why, when the shape lies inside another cell", () => {
    const inside = [{ x: 1.2, y: 1.2 }, { x: 2.8, y: 1.2 }, { x: 2.8, y: 2.8 }, { x: 1.2, y: 2.8 }];
    const result = drawCell(map, index, shapePixels(inside, 6, 4), "lasso");
    assert.equal(result.diff, null);
    assert.match(result.message, /hold Shift/i);
  });

  it("lets the brush add only unlabelled pixels to its cell", () => {
    const { map: m } = setup(
      "1122",
      "1122");
    const disc = discPixels(centre(1.5, 0.5), 2, 4, 2);
    assert.deepEqual(after(m, paintPixels(m, disc, 1)), picture(
      "1122",
      "1122"));
    const { map: m2 } = setup("1...", "1.22");
    assert.deepEqual(after(m2, paintPixels(m2, discPixels(centre(1, 1), 1.2, 4, 2), 1)), picture(
      "11..",
      "1122"));
    assert.deepEqual(after(m2, paintPixels(m2, discPixels(centre(2, 1), 1.2, 4, 2), 1, { paintOver: true })), picture(
      "1.1.",
      "1111"));
  });

  it("lets the eraser remove only its cell's pixels, or every cell's with Shift", () => {
    const { map: m } = setup("1122", "1122");
    const all = Uint32Array.from({ length: 8 }, (_, i) => i);
    assert.deepEqual(after(m, erasePixels(m, all, 2)), picture("11..", "11.."));
    assert.deepEqual(after(m, erasePixels(m, all, 0, { paintOver: true })), picture("....", "...."));
    assert.equal(erasePixels(m, all, 0).diff, null);
  });
});

describe("cell edits", () => {
  it("deletes a cell", () => {
    const { map, index } = setup("1122", "1.22");
    const result = deleteCell(map, index, 2);
    assert.equal(result.select, 0);
    assert.deepEqual(after(map, result), picture("11..", "1..."));
    assert.equal(deleteCell(map, index, 7).diff, null);
  });

  it("merges the second cell into the first", () => {
    const { map, index } = setup("11.2", "3..2");
    assert.deepEqual(after(map, mergeCells(map, index, 1, 2)), picture("11.1", "3..1"));
    assert.equal(mergeCells(map, index, 1, 1).diff, null);
  });

  it("splits a cell along a line into its two sides, losing no pixel", () => {
    const { map, index } = setup(
      "........",
      ".111111.",
      ".111111.",
      ".111111.",
      "........");
    const line = [{ x: 4.1, y: 0.2 }, { x: 4.1, y: 4.8 }];
    const result = splitCell(map, index, line);
    const rows = after(map, result);
    const ids = new Set(rows.flat().filter(Boolean));
    assert.deepEqual([...ids].sort(), [1, 2]);
    assert.equal(rows.flat().filter(Boolean).length, 18);
    // each side is one piece: left columns one id, right columns the other
    for (const row of rows.slice(1, 4)) {
      assert.equal(new Set(row.slice(1, 4)).size, 1);
      assert.equal(new Set(row.slice(5, 7)).size, 1);
      assert.notEqual(row[1], row[6]);
    }
  });

  it("splits along a diagonal line too (no leak through diagonal gaps)", () => {
    const { map, index } = setup(
      "11111",
      "11111",
      "11111",
      "11111",
      "11111");
    const rows = after(map, splitCell(map, index, [{ x: -0.5, y: -0.5 }, { x: 5.5, y: 5.5 }]));
    assert.equal(new Set(rows.flat()).size, 2);
    assert.notEqual(rows[0][4], rows[4][0]);
  });

  it("keeps the largest piece's id and gives the others new ids", () => {
    const { map, index } = setup(
      "777777.",
      "777777.",
      "......3");
    const result = splitCell(map, index, [{ x: 1.5, y: -1 }, { x: 1.5, y: 3 }]);
    const rows = after(map, result);
    assert.equal(rows[0][4], 7);
    assert.equal(rows[0][0], 8);
  });

  it("refuses a line that does not cut the cell in two, and says how", () => {
    const { map, index } = setup(
      "......",
      ".1111.",
      ".1111.",
      "......");
    const result = splitCell(map, index, [{ x: 0.5, y: 1.5 }, { x: 2.5, y: 1.5 }]);
    assert.equal(result.diff, null);
    assert.match(result.message, /start outside the cell and end outside it/);
    assert.match(splitCell(map, index, [{ x: 0, y: 3.5 }, { x: 6, y: 3.5 }]).message, /across a cell/);
  });

  it("does not split a cell's diagonal-only pieces apart", () => {
    const { map, index } = setup(
      "1.....",
      ".1111.",
      ".1111.",
      "......");
    const rows = after(map, splitCell(map, index, [{ x: 3.5, y: 0 }, { x: 3.5, y: 4 }]));
    assert.equal(rows[0][0], rows[1][1]); // the corner pixel stays with its side
    assert.equal(new Set(rows.flat().filter(Boolean)).size, 2);
  });

  it("splits the selected cell when the line crosses more than one", () => {
    const { map, index } = setup(
      "11111",
      "11111",
      "22222",
      "22222");
    const line = [{ x: 2.5, y: -1 }, { x: 2.5, y: 5 }];
    const rows = after(map, splitCell(map, index, line, 2));
    assert.deepEqual(rows.slice(0, 2), picture("11111", "11111"));
    assert.notEqual(rows[3][0], rows[3][4]);
    assert.deepEqual(new Set(rows.slice(2).flat()), new Set([2, 3]));
  });

  it("fills a cell's holes but not other cells inside it, unless painting over", () => {
    const { map, index } = setup(
      ".11111",
      ".1..21",
      ".11111");
    assert.deepEqual(after(map, fillHoles(map, index, 1)), picture(
      ".11111",
      ".11121",
      ".11111"));
    assert.deepEqual(after(map, fillHoles(map, index, 1, { paintOver: true })), picture(
      ".11111",
      ".11111",
      ".11111"));
  });

  it("does not count a gap open to the crop's edge as a hole", () => {
    const { map, index } = setup(
      "1.1",
      "111");
    const result = fillHoles(map, index, 1);
    assert.equal(result.diff, null);
    assert.match(result.message, /no holes/);
  });
});
