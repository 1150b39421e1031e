// Pixels of the rendered layers, computed without the DOM: the cell overlay (translucent fills
// and outlines, one colour per id) and the display-adjusted image. render.js puts them on canvases;
// the benchmark times them in node.

/** @typedef {import("./labelmap.js").LabelMap} LabelMap */
/** @typedef {import("./labelmap.js").Rect} Rect */
/** @typedef {import("./store.js").Display} Display */

/**
 * @typedef {Object} OverlayStyle
 * @property {boolean} showFill
 * @property {boolean} showOutline
 * @property {number} opacity   fill opacity 0..1
 * @property {number} selected  cell drawn highlighted (0 none)
 * @property {number} hover     cell under the pointer (0 none)
 * @property {Set<number>} [flagged] cells to mark (e.g. those the model is least sure of)
 */

const GOLDEN_ANGLE = 137.508;

/** A stable, distinct colour for each id: neighbouring ids get far-apart hues. @returns {[number, number, number]} */
export function colorForId(id) {
  const hue = (id * GOLDEN_ANGLE) % 360;
  const saturation = 0.65 + 0.3 * ((id * 7) % 3) / 2;
  const value = 0.85 + 0.15 * ((id * 5) % 2);
  return hsvToRgb(hue, saturation, value);
}

/** Packed RGB (0x00BBGGRR, little-endian RGBA order) for every id; alpha is added per pixel. */
export function makePalette() {
  const palette = new Uint32Array(65536);
  for (let id = 1; id < palette.length; id++) {
    const [r, g, b] = colorForId(id);
    palette[id] = (b << 16) | (g << 8) | r;
  }
  return palette;
}

/**
 * Recompute the overlay's RGBA pixels inside `rect`. A pixel on a cell's edge (a 4-neighbour with
 * another id, or the crop's edge) is outline; the rest of the cell is fill.
 * @param {Uint32Array} out  RGBA pixels of the whole crop viewed as 32-bit words (little-endian)
 * @param {LabelMap} map @param {Rect} rect @param {OverlayStyle} style @param {Uint32Array} palette
 */
export function paintOverlay(out, map, rect, style, palette) {
  const { data, width, height } = map;
  const { fill, edge } = colourTables(style, palette);
  const { selected, hover } = style;
  const fillAlpha = style.showFill ? Math.round(style.opacity * 255) : 0;
  const strong = Math.min(255, fillAlpha + 70);
  // The selected and hovered cells stand out: white / yellow outline, stronger fill.
  const selectedEdge = 0xffffffff, selectedFill = style.showFill ? (((strong << 24) | palette[selected]) >>> 0) : 0;
  const hoverEdge = 0xff00ffff, hoverFill = style.showFill ? (((strong << 24) | palette[hover]) >>> 0) : 0;
  const last = width - 1;
  for (let y = rect.y0; y < rect.y1; y++) {
    const rim = y === 0 || y === height - 1;
    for (let x = rect.x0, i = y * width + rect.x0; x < rect.x1; x++, i++) {
      const id = data[i];
      if (id === 0) { out[i] = 0; continue; }
      const onEdge = rim || x === 0 || x === last || data[i - 1] !== id || data[i + 1] !== id ||
        data[i - width] !== id || data[i + width] !== id;
      if (id === selected) out[i] = onEdge ? selectedEdge : selectedFill;
      else if (id === hover) out[i] = onEdge ? hoverEdge : hoverFill;
      else out[i] = onEdge ? edge[id] : fill[id];
    }
  }
}

/** @type {WeakMap<Uint32Array, {key: string, flagged: Set<number> | undefined, fill: Uint32Array, edge: Uint32Array}>} */
const tableCache = new WeakMap();

/**
 * RGBA words per id for fill and outline pixels under this style; cached per palette until the
 * style's opacity, fill/outline switches or flagged cells change.
 * @param {OverlayStyle} style @param {Uint32Array} palette
 */
function colourTables(style, palette) {
  const key = `${style.showFill}|${style.showOutline}|${style.opacity}`;
  const cached = tableCache.get(palette);
  if (cached && cached.key === key && cached.flagged === style.flagged) return cached;
  const fillAlpha = style.showFill ? Math.round(style.opacity * 255) : 0;
  const edgeAlpha = style.showOutline ? 255 : fillAlpha;
  const fill = new Uint32Array(palette.length);
  const edge = new Uint32Array(palette.length);
  for (let id = 1; id < palette.length; id++) {
    fill[id] = fillAlpha ? ((fillAlpha << 24) | palette[id]) >>> 0 : 0;
    edge[id] = edgeAlpha ? ((edgeAlpha << 24) | palette[id]) >>> 0 : 0;
  }
  for (const id of style.flagged ?? []) if (id > 0 && id < edge.length) edge[id] = 0xff0000ff; // red outline
  const tables = { key, flagged: style.flagged, fill, edge };
  tableCache.set(palette, tables);
  return tables;
}

/**
 * A lookup table for brightness, contrast and gamma on 8-bit intensities.
 * out = clamp(((v / 255) ** gamma - 0.5) * contrast + 0.5 + brightness) * 255
 * @param {{brightness: number, contrast: number, gamma: number}} display @returns {Uint8ClampedArray}
 */
export function intensityLut({ brightness, contrast, gamma }) {
  const lut = new Uint8ClampedArray(256);
  for (let v = 0; v < 256; v++) {
    const g = Math.pow(v / 255, gamma);
    lut[v] = Math.round(((g - 0.5) * contrast + 0.5 + brightness) * 255);
  }
  return lut;
}

/**
 * The image as shown: each channel through the lookup table, hidden channels black. For a grey
 * image (all channels equal) hiding channels would tint it, so channel toggles are for colour ones.
 * @param {Uint8ClampedArray} src RGBA @param {Uint8ClampedArray} dst RGBA, same size
 * @param {Uint8ClampedArray} lut @param {boolean[]} channels R, G, B shown
 */
export function adjustImage(src, dst, lut, channels) {
  const [r, g, b] = channels;
  for (let i = 0; i < src.length; i += 4) {
    dst[i] = r ? lut[src[i]] : 0;
    dst[i + 1] = g ? lut[src[i + 1]] : 0;
    dst[i + 2] = b ? lut[src[i + 2]] : 0;
    dst[i + 3] = 255;
  }
}

/** Whether an RGBA image is grey (R = G = B everywhere, sampled). @param {Uint8ClampedArray} rgba */
export function isGrey(rgba) {
  const step = Math.max(4, Math.floor(rgba.length / 4 / 20000) * 4);
  for (let i = 0; i < rgba.length; i += step) {
    if (rgba[i] !== rgba[i + 1] || rgba[i] !== rgba[i + 2]) return false;
  }
  return true;
}

/** @returns {[number, number, number]} */
function hsvToRgb(h, s, v) {
  const c = v * s;
  const x = c * (1 - Math.abs(((h / 60) % 2) - 1));
  const m = v - c;
  const [r, g, b] = h < 60 ? [c, x, 0] : h < 120 ? [x, c, 0] : h < 180 ? [0, c, x] : h < 240 ? [0, x, c] : h < 300 ? [x, 0, c] : [c, 0, x];
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

/**
 * The places still worth circling: those no cell covers yet (once the labeller adds a cell
 * there, its ring goes).
 * @template {{x: number, y: number}} P @param {P[]} places @param {LabelMap} map @returns {P[]}
 */
export function openPlaces(places, map) {
  return places.filter((place) => map.idAt(place.x, place.y) === 0);
}

/** A possible missed cell's ring: this many image pixels outside the region, at least PLACE_MIN_RADIUS on screen. */
export const PLACE_MARGIN = 3;
export const PLACE_MIN_RADIUS = 8;

/** The ring's radius around a place, in screen pixels. @param {{radius: number}} place @param {number} scale */
export function placeRingRadius(place, scale) {
  return Math.max(PLACE_MIN_RADIUS, (place.radius + PLACE_MARGIN) * scale);
}
