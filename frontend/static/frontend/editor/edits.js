// The edits a labeller can make, as pure functions: (label map, cell index, parameters) -> a diff
// to commit, or a message saying why nothing changed. Nothing here writes to the map.
//
// THE OVERLAP RULE (the editor never silently changes a cell the labeller did not point at):
// * A new cell (lasso, polygon) takes only unlabelled pixels (id 0) inside its shape; existing
//   cells keep theirs, so drawing across a neighbour just stops at its border.
// * The brush adds only unlabelled pixels to its cell; the eraser removes only its cell's pixels.
// * Fill holes fills only unlabelled pixels enclosed by the cell.
// * Holding Shift while finishing the stroke or shape ("paint over") lifts the rule for that
//   edit: the new cell or brush takes every pixel it covers from whatever cell had it, the eraser
//   clears every cell it covers, fill holes also takes enclosed pixels of other cells.
// Merge, split and delete change only the cells the labeller clicked or cut.

import { cellPixels, MAX_LABEL } from "./labelmap.js";
import { diffAssigning, diffSetting } from "./diff.js";
import { connectedComponents, enclosedPixels, polylinePixels } from "./geometry.js";

/** @typedef {import("./labelmap.js").LabelMap} LabelMap */
/** @typedef {import("./labelmap.js").CellIndex} CellIndex */
/** @typedef {import("./diff.js").Diff} Diff */
/** @typedef {import("./geometry.js").Point} Point */

/**
 * @typedef {Object} EditResult
 * @property {Diff | null} diff   null when nothing changes
 * @property {string} [message]   why nothing changed, or a note for the labeller
 * @property {number} [select]    the cell to select afterwards (0 clears the selection)
 */

/** @typedef {{paintOver?: boolean}} OverlapOptions */

/**
 * A new cell made of `pixels` (a lasso or polygon shape).
 * @param {LabelMap} map @param {CellIndex} index @param {Uint32Array} pixels ascending
 * @param {string} kind @param {OverlapOptions} [options] @returns {EditResult}
 */
export function drawCell(map, index, pixels, kind, { paintOver = false } = {}) {
  const target = paintOver ? pixels : keep(pixels, (id) => id === 0, map);
  if (!target.length) {
    return nothing(pixels.length
      ? "Every pixel in that shape already belongs to a cell. Hold Shift while closing the shape to paint over them."
      : "That shape covers no pixel centre; draw it a little larger.");
  }
  const id = index.nextFreeId();
  return { diff: diffSetting(map, kind, target, id), select: id };
}

/**
 * Brush: add `pixels` to cell `id`.
 * @param {LabelMap} map @param {Uint32Array} pixels @param {number} id @param {OverlapOptions} [options]
 * @returns {EditResult}
 */
export function paintPixels(map, pixels, id, { paintOver = false } = {}) {
  const target = paintOver ? pixels : keep(pixels, (v) => v === 0, map);
  return { diff: diffSetting(map, "brush", target, id) };
}

/**
 * Eraser: clear `pixels` of cell `id` (of every cell when painting over).
 * @param {LabelMap} map @param {Uint32Array} pixels @param {number} id 0 = no cell chosen
 * @param {OverlapOptions} [options] @returns {EditResult}
 */
export function erasePixels(map, pixels, id, { paintOver = false } = {}) {
  if (!paintOver && !id) return nothing("Select a cell to erase from, or hold Shift to erase any cell.");
  const target = paintOver ? pixels : keep(pixels, (v) => v === id, map);
  return { diff: diffSetting(map, "eraser", target, 0) };
}

/** @param {LabelMap} map @param {CellIndex} index @param {number} id @returns {EditResult} */
export function deleteCell(map, index, id) {
  if (!index.has(id)) return nothing("Click a cell to delete it.");
  return { diff: diffSetting(map, "delete", cellPixels(map, index, id), 0), select: 0 };
}

/**
 * Merge `other` into `keepId`: the merged cell keeps `keepId`.
 * @param {LabelMap} map @param {CellIndex} index @param {number} keepId @param {number} other
 * @returns {EditResult}
 */
export function mergeCells(map, index, keepId, other) {
  if (!index.has(keepId) || !index.has(other)) return nothing("Click one cell, then the cell to merge into it.");
  if (keepId === other) return nothing("That is the same cell; click a second cell to merge.");
  return { diff: diffSetting(map, "merge", cellPixels(map, index, other), keepId), select: keepId };
}

/**
 * Split a cell along a drawn line. The line (4-connected, so it has no diagonal gaps) cuts the
 * cell's pixels into 8-connected pieces: the largest keeps the cell's id, each other piece becomes
 * a new cell, and the line's own pixels join a neighbouring piece so that no pixel is lost.
 * @param {LabelMap} map @param {CellIndex} index @param {Point[]} line
 * @param {number} [preferredId] the selected cell, split when the line crosses it
 * @returns {EditResult}
 */
export function splitCell(map, index, line, preferredId = 0) {
  const linePixels = polylinePixels(line, map.width, map.height, { fourConnected: true });
  const id = cellUnderLine(map, linePixels, preferredId);
  if (!id) return nothing("Draw the split line across a cell.");
  const box = /** @type {import("./labelmap.js").Rect} */ (index.box(id));
  const w = box.x1 - box.x0, h = box.y1 - box.y0;
  const toLocal = (i) => ((i / map.width) | 0) * w - box.y0 * w + (i % map.width) - box.x0;
  const inCell = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0, i = (box.y0 + y) * map.width + box.x0; x < w; x++, i++) inCell[y * w + x] = map.data[i] === id ? 1 : 0;
  }
  const cut = inCell.slice();
  for (const i of linePixels) {
    const x = i % map.width, y = (i / map.width) | 0;
    if (x >= box.x0 && x < box.x1 && y >= box.y0 && y < box.y1) cut[toLocal(i)] = 0;
  }
  const { labels, count, sizes } = connectedComponents(cut, w, h, 8);
  if (count < 2) return nothing("The line must cut the cell in two: start outside the cell and end outside it.");
  absorbLine(labels, inCell, w, h);
  const pieceIds = idsForPieces(index, sizes, id);
  const indices = [], values = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const piece = labels[y * w + x];
      if (piece) { indices.push((box.y0 + y) * map.width + box.x0 + x); values.push(pieceIds[piece]); }
    }
  }
  return { diff: diffAssigning(map, "split", indices, values), select: id };
}

/**
 * Fill the holes of cell `id`: unlabelled pixels it encloses (with paint over, enclosed pixels of
 * other cells too). The crop's edge counts as outside, as in scipy's binary_fill_holes.
 * @param {LabelMap} map @param {CellIndex} index @param {number} id @param {OverlapOptions} [options]
 * @returns {EditResult}
 */
export function fillHoles(map, index, id, { paintOver = false } = {}) {
  if (!index.has(id)) return nothing("Click a cell to fill its holes.");
  const box = /** @type {import("./labelmap.js").Rect} */ (index.box(id));
  // One pixel of padding all round: pixels beyond the box (or the crop) are outside the cell.
  const w = box.x1 - box.x0 + 2, h = box.y1 - box.y0 + 2;
  const inCell = new Uint8Array(w * h);
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1, i = (box.y0 + y - 1) * map.width + box.x0; x < w - 1; x++, i++) inCell[y * w + x] = map.data[i] === id ? 1 : 0;
  }
  const holes = enclosedPixels(inCell, w, h);
  const target = [];
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      if (!holes[y * w + x]) continue;
      const i = (box.y0 + y - 1) * map.width + box.x0 + x - 1;
      if (paintOver || map.data[i] === 0) target.push(i);
    }
  }
  if (!target.length) return nothing(`Cell ${id} has no holes to fill.`);
  return { diff: diffSetting(map, "fill_holes", target, id), select: id };
}

// ---- helpers ----------------------------------------------------------------------------------

/** @param {string} message @returns {EditResult} */
function nothing(message) {
  return { diff: null, message };
}

/** @param {Uint32Array} pixels @param {(id: number) => boolean} test @param {LabelMap} map */
function keep(pixels, test, map) {
  const { data } = map;
  return pixels.filter((i) => test(data[i]));
}

/** The selected cell when the line crosses it, else the cell with the most pixels under the line. */
function cellUnderLine(map, linePixels, preferredId) {
  const hits = new Map();
  for (const i of linePixels) {
    const id = map.data[i];
    if (id) hits.set(id, (hits.get(id) ?? 0) + 1);
  }
  if (preferredId && hits.has(preferredId)) return preferredId;
  let best = 0, most = 0;
  for (const [id, n] of hits) if (n > most) { best = id; most = n; }
  return best;
}

/** Give each cell pixel the line removed to a neighbouring piece, growing from the pieces inward. */
function absorbLine(labels, inCell, w, h) {
  let pending = [];
  for (let i = 0; i < inCell.length; i++) if (inCell[i] && !labels[i]) pending.push(i);
  while (pending.length) {
    const next = [];
    const taken = [];
    for (const i of pending) {
      const x = i % w;
      const piece = (x > 0 && labels[i - 1]) || (x < w - 1 && labels[i + 1]) ||
        (i >= w && labels[i - w]) || (i + w < w * h && labels[i + w]);
      if (piece) taken.push(i, piece);
      else next.push(i);
    }
    if (!taken.length) break; // line pixels touching no piece: they stay with the cell's id below
    for (let k = 0; k < taken.length; k += 2) labels[taken[k]] = taken[k + 1];
    pending = next;
  }
  for (const i of pending) labels[i] = 0;
}

/** Largest piece keeps `id`; the others get fresh ids, larger pieces first. @returns {number[]} piece -> id */
function idsForPieces(index, sizes, id) {
  const order = sizes.map((_, piece) => piece).slice(1).sort((a, b) => sizes[b] - sizes[a]);
  const ids = new Array(sizes.length).fill(id);
  const fresh = freeIds(index, order.length - 1);
  order.slice(1).forEach((piece, k) => { ids[piece] = fresh[k]; });
  return ids;
}

/** `n` ids no cell uses. @param {CellIndex} index @param {number} n */
export function freeIds(index, n) {
  const out = [];
  let id = index.maxId;
  while (out.length < n && id < MAX_LABEL) out.push(++id);
  for (id = 1; out.length < n && id <= MAX_LABEL; id++) if (!index.has(id) && !out.includes(id)) out.push(id);
  if (out.length < n) throw new RangeError(`this crop cannot hold more than ${MAX_LABEL} cells`);
  return out;
}
