// A diff is one edit as the pixels it changed: their flat indices with the ids before and after.
// The undo stack keeps these instead of copies of the map, so an edit costs memory in proportion
// to the pixels it touched, not to the crop.

import { unionRect } from "./labelmap.js";

/** @typedef {import("./labelmap.js").LabelMap} LabelMap */
/** @typedef {import("./labelmap.js").Rect} Rect */

/**
 * @typedef {Object} Diff
 * @property {string} kind         what made it ("brush", "delete", ...); edit counts are keyed by it
 * @property {Uint32Array} indices changed pixels, ascending, each once
 * @property {Uint16Array} before  their ids before the edit
 * @property {Uint16Array} after   their ids after it
 * @property {Rect | null} rect    bounding box of the changed pixels (null when empty)
 */

/**
 * The diff that gives `newId` to `indices` (no-op pixels dropped).
 * @param {LabelMap} map @param {string} kind @param {ArrayLike<number>} indices ascending, unique
 * @param {number} newId @returns {Diff}
 */
export function diffSetting(map, kind, indices, newId) {
  const { data } = map;
  let n = 0;
  for (let k = 0; k < indices.length; k++) if (data[indices[k]] !== newId) n++;
  const out = new Uint32Array(n);
  const before = new Uint16Array(n);
  const after = new Uint16Array(n).fill(newId);
  n = 0;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (data[i] !== newId) { out[n] = i; before[n++] = data[i]; }
  }
  return { kind, indices: out, before, after, rect: rectOfIndices(out, map.width) };
}

/**
 * The diff that gives `values[k]` to `indices[k]` (no-op pixels dropped).
 * @param {LabelMap} map @param {string} kind @param {ArrayLike<number>} indices ascending, unique
 * @param {ArrayLike<number>} values @returns {Diff}
 */
export function diffAssigning(map, kind, indices, values) {
  const { data } = map;
  let n = 0;
  for (let k = 0; k < indices.length; k++) if (data[indices[k]] !== values[k]) n++;
  const out = new Uint32Array(n);
  const before = new Uint16Array(n);
  const after = new Uint16Array(n);
  n = 0;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (data[i] === values[k]) continue;
    out[n] = i; before[n] = data[i]; after[n++] = values[k];
  }
  return { kind, indices: out, before, after, rect: rectOfIndices(out, map.width) };
}

/** @param {Diff} diff */
export function isEmptyDiff(diff) {
  return diff.indices.length === 0;
}

/**
 * Write a diff into the map: forward sets `after`, backward restores `before`.
 * @param {LabelMap} map @param {Diff} diff @param {boolean} [backward]
 */
export function applyDiff(map, diff, backward = false) {
  const { data } = map;
  const { indices } = diff;
  const ids = backward ? diff.before : diff.after;
  for (let k = 0; k < indices.length; k++) data[indices[k]] = ids[k];
}

/** @param {ArrayLike<number>} indices ascending @param {number} width @returns {Rect | null} */
export function rectOfIndices(indices, width) {
  const n = indices.length;
  if (!n) return null;
  let x0 = Infinity, x1 = -1;
  for (let k = 0; k < n; k++) {
    const x = indices[k] % width;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
  }
  return { x0, y0: Math.floor(indices[0] / width), x1: x1 + 1, y1: Math.floor(indices[n - 1] / width) + 1 };
}

/**
 * Gathers the small diffs of a stroke (brush, eraser) into one: each pixel keeps its first
 * `before` and its last `after`, so undo takes back the whole stroke at once.
 */
export class DiffAccumulator {
  constructor() {
    /** @type {Map<number, number>} pixel -> id before the stroke */
    this.before = new Map();
    /** @type {Map<number, number>} pixel -> id now */
    this.after = new Map();
    /** @type {Rect | null} */
    this.rect = null;
  }

  /** @param {Diff} diff */
  add(diff) {
    const { indices, before, after } = diff;
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      if (!this.before.has(i)) this.before.set(i, before[k]);
      this.after.set(i, after[k]);
    }
    this.rect = unionRect(this.rect, diff.rect);
  }

  get isEmpty() {
    return this.before.size === 0;
  }

  /** The stroke as one diff, pixels that came back to their old id left out. @param {string} kind @param {number} width */
  toDiff(kind, width) {
    const keys = [...this.before.keys()].filter((i) => this.before.get(i) !== this.after.get(i));
    const indices = Uint32Array.from(keys).sort();
    const before = new Uint16Array(indices.length);
    const after = new Uint16Array(indices.length);
    indices.forEach((i, k) => { before[k] = /** @type {number} */ (this.before.get(i)); after[k] = /** @type {number} */ (this.after.get(i)); });
    return { kind, indices, before, after, rect: rectOfIndices(indices, width) };
  }
}
