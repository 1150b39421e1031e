// Editor speed on a 2048x2048 crop with 2,000 cells, in node (no canvas): opening the crop
// (JSON parse + RLE decode + cell index + the full overlay) and each kind of edit with the
// overlay recompute of its dirty rectangle. The browser benchmark (bench/browser_bench.py)
// adds what only a browser can time: image decode, canvas upload and composition.
//
//   node bench/editor_bench.mjs [--json]

import { decodeRle, encodeRle } from "../frontend/static/frontend/editor/codec.js";
import { deleteCell, drawCell, fillHoles, mergeCells, paintPixels, splitCell } from "../frontend/static/frontend/editor/edits.js";
import { capsulePixels, shapePixels } from "../frontend/static/frontend/editor/geometry.js";
import { CellIndex, growRect } from "../frontend/static/frontend/editor/labelmap.js";
import { makePalette, paintOverlay } from "../frontend/static/frontend/editor/overlay.js";
import { EditorStore } from "../frontend/static/frontend/editor/store.js";
import { syntheticCrop } from "./synthetic.mjs";

const SIZE = 2048, CELLS = 2000, RUNS = 40;

/** @param {number[]} samples */
const stats = (samples) => {
  const s = [...samples].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], p95: s[Math.min(s.length - 1, Math.floor(s.length * 0.95))], max: s[s.length - 1] };
};
const time = (fn) => { const t = performance.now(); const out = fn(); return [performance.now() - t, out]; };

const results = {};
const record = (name, samples, extra = {}) => { results[name] = { ...stats(samples), runs: samples.length, ...extra }; };

const { map: original, centres } = syntheticCrop({ width: SIZE, height: SIZE, cells: CELLS });
const rle = encodeRle(original);
const json = JSON.stringify(rle);

// ---- opening a crop ---------------------------------------------------------------------------
{
  const encode = [], parse = [], decode = [], index = [], overlay = [];
  const palette = makePalette();
  const out = new Uint32Array(SIZE * SIZE);
  for (let k = 0; k < 7; k++) {
    encode.push(time(() => encodeRle(original))[0]);
    const [tp, parsed] = time(() => JSON.parse(json));
    parse.push(tp);
    const [td, map] = time(() => decodeRle(parsed));
    decode.push(td);
    index.push(time(() => CellIndex.build(map))[0]);
    const style = { showFill: true, showOutline: true, opacity: 0.35, selected: 0, hover: 0 };
    overlay.push(time(() => paintOverlay(out, map, map.bounds, style, palette))[0]);
  }
  record("open: JSON.parse of the RLE", parse, { bytes: json.length, runs: rle.runs.length / 2 });
  record("open: RLE decode", decode);
  record("open: cell index", index);
  record("open: full overlay (4.2 M pixels)", overlay);
  record("submit: RLE encode", encode);
}

// ---- edits: the edit itself, then the overlay recompute of its dirty rectangle ------------------
const store = new EditorStore({ map: decodeRle(JSON.parse(json)) });
const palette = makePalette();
const overlay = new Uint32Array(SIZE * SIZE);
const style = () => ({ showFill: true, showOutline: true, opacity: 0.35, selected: store.selected, hover: 0 });
paintOverlay(overlay, store.map, store.map.bounds, style(), palette);
let dirty = null;
store.subscribe((e) => { if (e.type === "labels" && e.rect) dirty = growRect(e.rect, 1, SIZE, SIZE); });

/** Time an edit (a function that commits to the store) plus the overlay redraw it causes. */
function measure(name, edit, runs = RUNS) {
  const editMs = [], redrawMs = [], totalMs = [], pixels = [];
  for (let k = 0; k < runs; k++) {
    dirty = null;
    const t0 = performance.now();
    edit(k);
    const t1 = performance.now();
    if (dirty) paintOverlay(overlay, store.map, dirty, style(), palette);
    const t2 = performance.now();
    editMs.push(t1 - t0); redrawMs.push(t2 - t1); totalMs.push(t2 - t0);
    if (dirty) pixels.push((dirty.x1 - dirty.x0) * (dirty.y1 - dirty.y0));
  }
  results[`edit: ${name}`] = { ...stats(totalMs), editMedian: stats(editMs).median, redrawMedian: stats(redrawMs).median,
    dirtyPixelsMedian: stats(pixels.length ? pixels : [0]).median, runs };
}

const cellAt = (k) => store.map.idAt(centres[(k * 37) % centres.length].x, centres[(k * 37) % centres.length].y);
const { index } = store;

measure("delete a cell", (k) => store.commit(deleteCell(store.map, index, cellAt(k))));
measure("undo", () => store.undo());
measure("redo", () => store.redo());
measure("lasso a new cell (60 px across, over neighbours)", (k) => {
  const c = centres[(k * 53 + 11) % centres.length];
  const points = Array.from({ length: 80 }, (_, j) => ({ x: c.x + 30 * Math.cos((j / 80) * 2 * Math.PI), y: c.y + 30 * Math.sin((j / 80) * 2 * Math.PI) }));
  store.commit(drawCell(store.map, index, shapePixels(points, SIZE, SIZE), "lasso"));
});
measure("brush stroke step (radius 8, 12 px move)", (k) => {
  const c = centres[(k * 71 + 5) % centres.length];
  const id = store.map.idAt(c.x, c.y);
  if (!id) return;
  const pixels = capsulePixels({ x: c.x, y: c.y }, { x: c.x + 12, y: c.y + 3 }, 8, SIZE, SIZE);
  store.beginStroke("brush");
  store.strokeStep(paintPixels(store.map, pixels, id).diff ?? { kind: "brush", indices: new Uint32Array(0), before: new Uint16Array(0), after: new Uint16Array(0), rect: null });
  store.finishStroke();
});
measure("merge two neighbouring cells", (k) => {
  const c = centres[(k * 97 + 3) % centres.length];
  const a = store.map.idAt(c.x, c.y);
  const right = centres.find((d) => d.x > c.x + 10 && Math.abs(d.y - c.y) < 20);
  const b = right ? store.map.idAt(right.x, right.y) : 0;
  store.commit(mergeCells(store.map, index, a, b));
});
measure("split a cell across", (k) => {
  const c = centres[(k * 29 + 7) % centres.length];
  const id = store.map.idAt(c.x, c.y);
  store.commit(splitCell(store.map, index, [{ x: c.x - 40, y: c.y - 2 }, { x: c.x + 40, y: c.y + 2 }], id));
});
measure("fill holes of a cell", (k) => {
  const c = centres[(k * 41 + 13) % centres.length];
  const id = store.map.idAt(c.x, c.y);
  if (!id) return;
  store.map.data[Math.floor(c.y) * SIZE + Math.floor(c.x)] = 0; // a one-pixel hole (index left loose on purpose)
  store.commit(fillHoles(store.map, index, id));
});

const worstEdit = Math.max(...Object.entries(results).filter(([k]) => k.startsWith("edit:")).map(([, v]) => v.max));
const openMs = ["open: JSON.parse of the RLE", "open: RLE decode", "open: cell index", "open: full overlay (4.2 M pixels)"]
  .reduce((sum, k) => sum + results[k].median, 0);
const summary = { node: process.version, crop: `${SIZE}x${SIZE}`, cells: CELLS, undoPixels: store.history.pixels, openMedianMs: openMs, worstEditMs: worstEdit };

if (process.argv.includes("--json")) {
  console.log(JSON.stringify({ summary, results }, null, 1));
} else {
  console.log(`editor benchmark (node ${process.version}): ${SIZE}x${SIZE} crop, ${CELLS} cells, RLE ${(json.length / 1e6).toFixed(2)} MB`);
  for (const [name, r] of Object.entries(results)) {
    const parts = [`median ${r.median.toFixed(2)} ms`, `p95 ${r.p95.toFixed(2)}`, `max ${r.max.toFixed(2)}`];
    if (r.editMedian !== undefined) parts.push(`(edit ${r.editMedian.toFixed(2)} + overlay ${r.redrawMedian.toFixed(2)}, dirty ${r.dirtyPixelsMedian} px)`);
    console.log(`  ${name.padEnd(52)} ${parts.join("  ")}`);
  }
  console.log(`  open (parse + decode + index + overlay), median sum: ${openMs.toFixed(1)} ms; worst edit incl. overlay: ${worstEdit.toFixed(1)} ms`);
}
