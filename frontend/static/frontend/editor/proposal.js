// The edits the model's proposals make (the Assist tool), as pure functions like edits.js:
// (label map, cell index, the proposal's cells, what was clicked) -> a diff to commit, or a
// message saying why nothing changed. They run when the answer arrives, against the map as it is
// then, so edits made while the request was out are respected. The overlap rule holds as for a
// drawn cell: a proposed cell takes only unlabelled pixels unless Shift was held.

import { cellPixels } from "./labelmap.js";
import { diffAssigning, diffSetting } from "./diff.js";
import { freeIds } from "./edits.js";

/** @typedef {import("./labelmap.js").LabelMap} LabelMap */
/** @typedef {import("./labelmap.js").CellIndex} CellIndex */
/** @typedef {import("./edits.js").EditResult} EditResult */
/** @typedef {import("./geometry.js").Point} Point */

/**
 * What the server proposed (api.js propose).
 * @typedef {Object} Proposal
 * @property {Map<number, Uint32Array>} cells  proposed cell -> its flat pixel indices, ascending
 * @property {number | null} modelVersion
 * @property {"flows" | "classical"} method  classical: the project has no model yet
 * @property {string | null} message  why nothing was found, when so
 */

export const NOTHING_HERE = "The model finds no cell here.";
export const NOTHING_BETTER = "The model proposes nothing better for this cell.";

/**
 * Click to add: the proposed cell at `point` becomes a new cell.
 * @param {LabelMap} map @param {CellIndex} index @param {Proposal} proposal @param {Point} point
 * @param {{paintOver?: boolean}} [options] @returns {EditResult}
 */
export function addProposedCell(map, index, proposal, point, { paintOver = false } = {}) {
  const pixels = proposal.cells.get(pickCell(proposal.cells, pixelAt(map, point)));
  if (!pixels) return nothing(proposal.message || NOTHING_HERE);
  const target = paintOver ? pixels : unlabelled(map, pixels);
  if (!target.length) {
    return nothing("The model's cell here is already labelled. Hold Shift while clicking to add it over the other cells.");
  }
  const id = index.nextFreeId();
  return { diff: diffSetting(map, "click_add", target, id), select: id };
}

/**
 * A proposed cell with more than this share of its pixels already labelled overlaps an existing
 * cell (it is mostly a cell the map has): Box to add leaves it out. A proposal that only grazes
 * a neighbour (touching cells share a few border pixels) is added, minus those pixels.
 */
export const OVERLAP_SHARE = 0.1;

/**
 * Box to add: every proposed cell that overlaps no existing cell becomes a new cell, taking only
 * unlabelled pixels (with paint over, every proposed cell, taking its pixels from whatever cell
 * had them).
 * @param {LabelMap} map @param {CellIndex} index @param {Proposal} proposal
 * @param {{paintOver?: boolean}} [options] @returns {EditResult}
 */
export function addProposedCells(map, index, proposal, { paintOver = false } = {}) {
  if (!proposal.cells.size) return nothing(proposal.message || "The model finds no cell in that box.");
  const taken = [];
  for (const pixels of proposal.cells.values()) {
    const free = paintOver ? pixels : unlabelled(map, pixels);
    if (free.length && pixels.length - free.length <= OVERLAP_SHARE * pixels.length) taken.push(free);
  }
  const skipped = proposal.cells.size - taken.length;
  if (!taken.length) {
    return nothing(skipped === 1
      ? "The cell the model finds in that box overlaps an existing cell; hold Shift while dragging to add it over."
      : `All ${skipped} cells the model finds in that box overlap existing cells; hold Shift while dragging to add them over.`);
  }
  const ids = freeIds(index, taken.length);
  const size = taken.reduce((n, pixels) => n + pixels.length, 0);
  // Proposed cells are disjoint (they come from one label image): order their pixels by index.
  const order = new Float64Array(size);
  let n = 0;
  taken.forEach((pixels, k) => { for (const i of pixels) order[n++] = i * 65536 + ids[k]; });
  order.sort();
  const indices = new Uint32Array(size), values = new Uint16Array(size);
  for (let k = 0; k < size; k++) { indices[k] = Math.floor(order[k] / 65536); values[k] = order[k] % 65536; }
  const result = { diff: diffAssigning(map, "box_add", indices, values), select: ids[0] };
  if (!skipped) return result;
  return { ...result, message: `Added ${plural(taken.length, "cell")}; ${plural(skipped, "cell")} overlapping existing cells left out (Shift+drag adds them over).` };
}

/**
 * Redo a cell: cell `id` becomes the proposed cell at `point`, keeping its id. Pixels of other
 * cells stay theirs unless Shift was held.
 * @param {LabelMap} map @param {CellIndex} index @param {number} id @param {Proposal} proposal
 * @param {Point} point @param {{paintOver?: boolean}} [options] @returns {EditResult}
 */
export function redoCell(map, index, id, proposal, point, { paintOver = false } = {}) {
  if (!index.has(id)) return nothing(`Cell ${id} was deleted while the model was working; nothing changed.`);
  const fresh = proposal.cells.get(pickCell(proposal.cells, pixelAt(map, point)));
  if (!fresh) return nothing(proposal.message || NOTHING_BETTER);
  const { data } = map;
  const old = cellPixels(map, index, id);
  // Merge the two ascending lists: old pixels leave the cell, new ones join it where allowed.
  const indices = [], values = [];
  let a = 0, b = 0;
  while (a < old.length || b < fresh.length) {
    const i = b >= fresh.length || (a < old.length && old[a] < fresh[b]) ? old[a++] : fresh[b++];
    if (indices.length && indices[indices.length - 1] === i) continue;
    const inFresh = fresh[b - 1] === i;
    const allowed = paintOver || data[i] === 0 || data[i] === id;
    indices.push(i);
    values.push(inFresh && allowed ? id : data[i] === id ? 0 : data[i]);
  }
  const diff = diffAssigning(map, "redo", indices, values);
  if (!diff.indices.length) return nothing(NOTHING_BETTER);
  return { diff, select: id };
}

/** The proposed cell holding pixel `i`, else the largest; 0 when none. @param {Map<number, Uint32Array>} cells @param {number} i */
export function pickCell(cells, i) {
  let largest = 0, size = 0;
  for (const [id, pixels] of cells) {
    if (contains(pixels, i)) return id;
    if (pixels.length > size) { largest = id; size = pixels.length; }
  }
  return largest;
}

// ---- helpers ----------------------------------------------------------------------------------

/** @param {Uint32Array} sorted @param {number} i */
function contains(sorted, i) {
  let lo = 0, hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] === i) return true;
    if (sorted[mid] < i) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** @param {LabelMap} map @param {Point} p flat index of the pixel under p (-1 outside) */
function pixelAt(map, p) {
  const x = Math.floor(p.x), y = Math.floor(p.y);
  return x < 0 || y < 0 || x >= map.width || y >= map.height ? -1 : y * map.width + x;
}

/** @param {LabelMap} map @param {Uint32Array} pixels */
function unlabelled(map, pixels) {
  const { data } = map;
  return pixels.filter((i) => data[i] === 0);
}

/** @param {string} message @returns {EditResult} */
function nothing(message) {
  return { diff: null, message };
}

/** @param {number} n @param {string} word */
function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
