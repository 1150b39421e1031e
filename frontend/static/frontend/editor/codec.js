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
  const map = new LabelMap(w, h);
  const { data } = map;
  for (let k = 0, at = 0; k < runs.length; k += 2) {
    const length = runs[k + 1];
    if (runs[k] !== 0) data.fill(runs[k], at, at + length);
    at += length;
  }
  return map;
}
