// A labelling session replayed with the editor's tools on the real crop fixture. Its result is
// fixtures/editor_edits.json: the JS tests check the editor still produces it exactly, and
// tests/test_codec_fixture.py checks that the server decodes the browser's RLE to the same pixels.

import { decodeRle, encodeRle } from "../static/frontend/editor/codec.js";
import { labelMapToRows } from "../static/frontend/editor/labelmap.js";
import { EditorStore } from "../static/frontend/editor/store.js";
import { createToolRegistry } from "../static/frontend/editor/tools/index.js";
import { centre, fixture } from "./helpers.mjs";

export function replayEdits() {
  const store = new EditorStore({ map: decodeRle(fixture("u2os_crop.json").rle), radius: 2 });
  const tools = createToolRegistry();
  const ctx = (paintOver = false, clicks = 1) => ({ store, paintOver, scale: 8, clicks });
  const use = (name) => {
    if (store.tool !== name) {
      store.setTool(name);
      tools.get(name).activate?.(ctx());
    }
    return tools.get(name);
  };
  const drag = (name, points, paintOver = false) => {
    const tool = use(name);
    tool.down(ctx(paintOver), points[0]);
    for (const p of points.slice(1)) tool.move?.(ctx(paintOver), p);
    tool.up?.(ctx(paintOver), points.at(-1));
  };
  const polygon = (points, paintOver = false) => {
    const tool = use("polygon");
    for (const p of points) tool.down(ctx(paintOver), p);
    tool.onKey(ctx(paintOver), "enter");
  };

  drag("delete", [centre(1, 0)]); // the sliver of cell 189 at the top-left
  drag("lasso", [{ x: 22, y: 2 }, { x: 34, y: 2 }, { x: 34, y: 12 }, { x: 22, y: 12 }]); // new cell, stops at 304
  drag("merge", [centre(28, 16)]); // select 85 ...
  drag("merge", [centre(28, 30)]); // ... and merge 193 into it
  drag("split", [{ x: 9.5, y: 12.5 }, { x: 9.5, y: 20 }, { x: 9.5, y: 28.5 }]); // cut cell 22 in two
  drag("brush", [centre(44, 21), centre(40, 21), centre(40, 25)]); // grow 223 into the background
  drag("eraser", [centre(30, 30), centre(31, 30)]); // punch a hole in the merged cell ...
  drag("fill_holes", [centre(30, 26)]); // ... and fill it again
  polygon([{ x: 42, y: 36 }, { x: 48, y: 36 }, { x: 48, y: 40 }, { x: 42, y: 40 }], true); // over cell 260
  return { store, result: { rle: encodeRle(store.map), labels: labelMapToRows(store.map), edit_counts: store.editCounts() } };
}
