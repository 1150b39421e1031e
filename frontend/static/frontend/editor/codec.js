// The API's mask wire format, the twin of annotations/masks.py (encode_rle / decode_rle):
//   {"encoding": "rle", "height": H, "width": W, "runs": [id, length, id, length, ...]}
// runs cover the flat row-major label map. The encoder emits maximal runs, exactly as the
// Python encoder does, so both sides produce byte-identical JSON for the same map; the decoder
// accepts any valid runs (adjacent runs of one id too) and refuses anything else with the same
// messages as the server.

import { LabelMap, MAX_LABEL } from "./labelmap.js";

/**
 * @typedef {{encoding: "rle", height: number, width: number, runs: number[]}} RleMask
 */

export class MaskFormatError extends Error {
  name = "MaskFormatError";
}

/** @param {LabelMap} map @returns {RleMask} */
export function encodeRle(map) {
  const { data } = map;
  const runs = [];
  const n = data.length;
  let i = 0;
  while (i < n) {
    const id = data[i];
    const start = i;
    while (++i < n && data[i] === id);
    runs.push(id, i - start);
  }
  return { encoding: "rle", height: map.height, width: map.width, runs };
}

/**
 * @param {unknown} payload parsed JSON
 * @param {{width: number, height: number}} [shape] the crop's size, when known; a mask of another size is refused
 * @returns {LabelMap}
 */
export function decodeRle(payload, shape) {
  const { w, h, runs } = checkRle(payload, shape);
  const map = new LabelMap(w, h);
  const { data } = map;
  for (let k = 0, at = 0; k < runs.length; k += 2) {
    const length = runs[k + 1];
    if (runs[k] !== 0) data.fill(runs[k], at, at + length);
    at += length;
  }
  return map;
}

/**
 * The cells of a label image as the flat indices of each one's pixels, ascending, straight from
 * the runs (no map is built: the editor adds these pixels to its own map). Validated as decodeRle.
 * @param {unknown} payload @param {{width: number, height: number}} [shape] @returns {Map<number, Uint32Array>}
 */
export function decodeCells(payload, shape) {
  const { runs } = checkRle(payload, shape);
  /** @type {Map<number, number>} */ const sizes = new Map();
  for (let k = 0; k < runs.length; k += 2) if (runs[k]) sizes.set(runs[k], (sizes.get(runs[k]) ?? 0) + runs[k + 1]);
  /** @type {Map<number, Uint32Array>} */ const cells = new Map();
  const filled = new Map();
  for (const [id, size] of [...sizes].sort((a, b) => a[0] - b[0])) { cells.set(id, new Uint32Array(size)); filled.set(id, 0); }
  for (let k = 0, at = 0; k < runs.length; k += 2) {
    const id = runs[k], length = runs[k + 1];
    if (id) {
      const out = /** @type {Uint32Array} */ (cells.get(id));
      let n = filled.get(id);
      for (let i = at; i < at + length; i++) out[n++] = i;
      filled.set(id, n);
    }
    at += length;
  }
  return cells;
}

/**
 * A binary label image (1 on `pixels`, 0 elsewhere) as RLE, without building the map.
 * @param {ArrayLike<number>} pixels flat indices, ascending, each once
 * @param {number} width @param {number} height @returns {RleMask}
 */
export function binaryRle(pixels, width, height) {
  const runs = [];
  let at = 0;
  for (let k = 0; k < pixels.length;) {
    const start = pixels[k];
    let end = start + 1;
    while (++k < pixels.length && pixels[k] === end) end++;
    if (start > at) runs.push(0, start - at);
    runs.push(1, end - start);
    at = end;
  }
  if (at < width * height) runs.push(0, width * height - at);
  return { encoding: "rle", height, width, runs };
}

/** The checks decodeRle makes, shared with decodeCells. @param {unknown} payload @param {{width: number, height: number}} [shape] */
function checkRle(payload, shape) {
  const mask = /** @type {Record<string, unknown>} */ (payload);
  if (!mask || typeof mask !== "object" || Array.isArray(mask) || mask.encoding !== "rle") {
    throw new MaskFormatError('mask must be an object {"encoding": "rle", "height", "width", "runs"}');
  }
  const { height, width, runs } = mask;
  if (!Number.isInteger(height) || !Number.isInteger(width) || /** @type {number} */ (height) < 0 ||
      /** @type {number} */ (width) < 0 || !Array.isArray(runs)) {
    throw new MaskFormatError("mask needs integer height and width and a flat list of numbers in runs");
  }
  const h = /** @type {number} */ (height);
  const w = /** @type {number} */ (width);
  if (shape && (shape.height !== h || shape.width !== w)) {
    throw new MaskFormatError(`mask is ${w}x${h} but the crop is ${shape.width}x${shape.height} (width x height)`);
  }
  if (runs.length % 2) throw new MaskFormatError("mask runs must be a flat list of [id, length] pairs");
  const total = h * w;
  let covered = 0;
  for (let k = 0; k < runs.length; k += 2) {
    const id = runs[k];
    const length = runs[k + 1];
    if (!Number.isInteger(id) || !Number.isInteger(length)) {
      throw new MaskFormatError("mask has non-integer labels or run lengths");
    }
    if (id < 0 || id > MAX_LABEL) throw new MaskFormatError(`mask labels must lie in 0..${MAX_LABEL}`);
    if (length < 1) throw new MaskFormatError("mask run lengths must be positive");
    covered += length;
  }
  if (covered !== total) throw new MaskFormatError(`mask runs cover ${covered} pixels, expected ${total}`);
  return { w, h, runs: /** @type {number[]} */ (runs) };
}
