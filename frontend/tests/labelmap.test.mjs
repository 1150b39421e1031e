import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { cellPixels, CellIndex, LabelMap, labelMapFromRows, MAX_LABEL } from "../static/frontend/editor/labelmap.js";
import { picture } from "./helpers.mjs";

describe("label map and cell index", () => {
  const map = labelMapFromRows(picture(
    "11..2",
    "11..2",
    "....2",
    "3...."));

  it("reads ids by point, floored, 0 outside", () => {
    assert.equal(map.idAt(1.9, 0.2), 1);
    assert.equal(map.idAt(4, 2), 2);
    assert.equal(map.idAt(-0.5, 0), 0);
    assert.equal(map.idAt(5, 0), 0);
  });

  it("indexes area and box of every cell", () => {
    const index = CellIndex.build(map);
    assert.equal(index.count, 3);
    assert.deepEqual(index.ids(), [1, 2, 3]);
    assert.deepEqual(index.box(1), { x0: 0, y0: 0, x1: 2, y1: 2 });
    assert.deepEqual(index.box(2), { x0: 4, y0: 0, x1: 5, y1: 3 });
    assert.equal(index.area[1], 4);
    assert.equal(index.nextFreeId(), 4);
    assert.deepEqual([...cellPixels(map, index, 2)], [4, 9, 14]);
  });

  it("keeps the index right as pixels change id", () => {
    const index = CellIndex.build(map);
    index.update(Uint32Array.of(15), Uint16Array.of(3), Uint16Array.of(0));
    assert.equal(index.has(3), false);
    assert.equal(index.count, 2);
    index.update(Uint32Array.of(19), Uint16Array.of(0), Uint16Array.of(9));
    assert.deepEqual(index.box(9), { x0: 4, y0: 3, x1: 5, y1: 4 });
    assert.equal(index.maxId, 9);
    assert.equal(index.nextFreeId(), 10);
  });

  it("shrinks a loose box on demand", () => {
    const m = map.clone();
    const index = CellIndex.build(m);
    m.data[4] = 0;
    index.update(Uint32Array.of(4), Uint16Array.of(2), Uint16Array.of(0));
    assert.deepEqual(index.box(2), { x0: 4, y0: 0, x1: 5, y1: 3 });
    assert.deepEqual(index.tightBox(m, 2), { x0: 4, y0: 1, x1: 5, y1: 3 });
  });

  it("reuses the smallest free id when the largest is taken", () => {
    const m = new LabelMap(2, 1, Uint16Array.of(1, MAX_LABEL));
    assert.equal(CellIndex.build(m).nextFreeId(), 2);
  });
});
