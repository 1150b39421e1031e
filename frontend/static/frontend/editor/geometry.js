// Pure raster geometry on flat pixel indices (row-major, index = y * width + x).
// Points are in image pixel coordinates: pixel (x, y) covers [x, x+1) x [y, y+1), its centre is
// (x + 0.5, y + 0.5). Every function clips to the image and returns ascending, unique indices.

/** @typedef {{x: number, y: number}} Point */
/** @typedef {import("./labelmap.js").Rect} Rect */

/**
 * Pixels whose centres lie inside the closed polygon (even-odd rule), like skimage.draw.polygon.
 * @param {Point[]} points @param {number} width @param {number} height @returns {Uint32Array}
 */
export function polygonInterior(points, width, height) {
  const n = points.length;
  if (n < 3) return new Uint32Array(0);
  let minY = Infinity, maxY = -Infinity;
  for (const p of points) { if (p.y < minY) minY = p.y; if (p.y > maxY) maxY = p.y; }
  const yStart = Math.max(0, Math.ceil(minY - 0.5));
  const yEnd = Math.min(height - 1, Math.floor(maxY - 0.5));
  const out = [];
  const crossings = [];
  for (let y = yStart; y <= yEnd; y++) {
    const yc = y + 0.5;
    crossings.length = 0;
    for (let a = 0, b = n - 1; a < n; b = a++) {
      const pa = points[a], pb = points[b];
      if ((pa.y <= yc) !== (pb.y <= yc)) crossings.push(pa.x + ((yc - pa.y) * (pb.x - pa.x)) / (pb.y - pa.y));
    }
    crossings.sort((u, v) => u - v);
    for (let k = 0; k + 1 < crossings.length; k += 2) {
      // centre x + 0.5 in [left, right)
      const x0 = Math.max(0, Math.ceil(crossings[k] - 0.5));
      const x1 = Math.min(width, Math.ceil(crossings[k + 1] - 0.5));
      for (let x = x0; x < x1; x++) out.push(y * width + x);
    }
  }
  return Uint32Array.from(out); // rows ascending and spans of one row disjoint and ordered
}

/**
 * Pixels a polyline passes through (Bresenham between consecutive points). With `fourConnected`
 * every diagonal step also takes a side pixel, so the line has no diagonal gaps: such a line
 * separates 8-connected regions, which `splitCell` relies on.
 * @param {Point[]} points @param {number} width @param {number} height
 * @param {{closed?: boolean, fourConnected?: boolean}} [options]
 * @returns {Uint32Array}
 */
export function polylinePixels(points, width, height, { closed = false, fourConnected = false } = {}) {
  const set = new Set();
  const add = (x, y) => { if (x >= 0 && y >= 0 && x < width && y < height) set.add(y * width + x); };
  if (points.length === 1) add(Math.floor(points[0].x), Math.floor(points[0].y));
  const last = closed ? points.length : points.length - 1;
  for (let k = 0; k < last; k++) {
    const p = points[k], q = points[(k + 1) % points.length];
    bresenham(Math.floor(p.x), Math.floor(p.y), Math.floor(q.x), Math.floor(q.y), add, fourConnected);
  }
  return sortedIndices(set);
}

/**
 * A closed freehand or polygon shape as drawn: its inside plus every pixel its outline crosses,
 * so even a thin shape keeps the pixels the labeller traced.
 * @param {Point[]} points @param {number} width @param {number} height @returns {Uint32Array}
 */
export function shapePixels(points, width, height) {
  return unionSorted(polygonInterior(points, width, height), polylinePixels(points, width, height, { closed: true }));
}

/**
 * Pixels whose centres are nearer than `radius` to the segment p..q (a brush dab when p = q):
 * radius 1 is the one pixel under the pointer, 2 a 3x3 block, 3 a 5x5 block, larger ones round.
 * @param {Point} p @param {Point} q @param {number} radius @param {number} width @param {number} height
 * @returns {Uint32Array}
 */
export function capsulePixels(p, q, radius, width, height) {
  const r = Math.max(0.5, radius); // never less than the pixel under the pointer
  const x0 = Math.max(0, Math.floor(Math.min(p.x, q.x) - r));
  const x1 = Math.min(width - 1, Math.ceil(Math.max(p.x, q.x) + r));
  const y0 = Math.max(0, Math.floor(Math.min(p.y, q.y) - r));
  const y1 = Math.min(height - 1, Math.ceil(Math.max(p.y, q.y) + r));
  const dx = q.x - p.x, dy = q.y - p.y;
  const len2 = dx * dx + dy * dy;
  const r2 = r * r;
  const out = [];
  for (let y = y0; y <= y1; y++) {
    const cy = y + 0.5;
    for (let x = x0; x <= x1; x++) {
      const cx = x + 0.5;
      let t = len2 ? ((cx - p.x) * dx + (cy - p.y) * dy) / len2 : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const ex = cx - (p.x + t * dx), ey = cy - (p.y + t * dy);
      if (ex * ex + ey * ey < r2) out.push(y * width + x);
    }
  }
  return Uint32Array.from(out);
}

/** @param {Point} centre @param {number} radius @param {number} width @param {number} height */
export function discPixels(centre, radius, width, height) {
  return capsulePixels(centre, centre, radius, width, height);
}

/**
 * Connected components of the set pixels of a w x h mask.
 * @param {Uint8Array} mask 1 = in the set
 * @param {number} w @param {number} h @param {4 | 8} [connectivity]
 * @returns {{labels: Int32Array, count: number, sizes: number[]}} labels 1..count, 0 outside the set
 */
export function connectedComponents(mask, w, h, connectivity = 4) {
  const labels = new Int32Array(w * h);
  const sizes = [0];
  const stack = new Int32Array(w * h);
  let count = 0;
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]) continue;
    count++;
    let size = 0, top = 0;
    stack[top++] = start;
    labels[start] = count;
    while (top) {
      const i = stack[--top];
      size++;
      const x = i % w;
      if (x > 0 && mask[i - 1] && !labels[i - 1]) { labels[i - 1] = count; stack[top++] = i - 1; }
      if (x < w - 1 && mask[i + 1] && !labels[i + 1]) { labels[i + 1] = count; stack[top++] = i + 1; }
      if (i >= w && mask[i - w] && !labels[i - w]) { labels[i - w] = count; stack[top++] = i - w; }
      if (i + w < mask.length && mask[i + w] && !labels[i + w]) { labels[i + w] = count; stack[top++] = i + w; }
      if (connectivity === 8) {
        for (const j of diagonalNeighbours(i, x, w, mask.length)) {
          if (mask[j] && !labels[j]) { labels[j] = count; stack[top++] = j; }
        }
      }
    }
    sizes.push(size);
  }
  return { labels, count, sizes };
}

/**
 * Pixels not in the set that the set encloses: those not 4-connected to the border through
 * pixels outside the set.
 * @param {Uint8Array} mask 1 = in the set @param {number} w @param {number} h @returns {Uint8Array} 1 = hole
 */
export function enclosedPixels(mask, w, h) {
  const reached = new Uint8Array(w * h);
  const stack = new Int32Array(w * h);
  let top = 0;
  const seed = (i) => { if (!mask[i] && !reached[i]) { reached[i] = 1; stack[top++] = i; } };
  for (let x = 0; x < w; x++) { seed(x); seed((h - 1) * w + x); }
  for (let y = 0; y < h; y++) { seed(y * w); seed(y * w + w - 1); }
  while (top) {
    const i = stack[--top];
    const x = i % w;
    if (x > 0) seed(i - 1);
    if (x < w - 1) seed(i + 1);
    if (i >= w) seed(i - w);
    if (i + w < mask.length) seed(i + w);
  }
  const holes = new Uint8Array(w * h);
  for (let i = 0; i < holes.length; i++) holes[i] = !mask[i] && !reached[i] ? 1 : 0;
  return holes;
}

/** Bounding rect of points, grown by `pad`, clipped. @param {Point[]} points @returns {Rect} */
export function pointsRect(points, pad, width, height) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const p of points) {
    if (p.x < x0) x0 = p.x; if (p.y < y0) y0 = p.y;
    if (p.x > x1) x1 = p.x; if (p.y > y1) y1 = p.y;
  }
  return {
    x0: Math.max(0, Math.floor(x0 - pad)), y0: Math.max(0, Math.floor(y0 - pad)),
    x1: Math.min(width, Math.ceil(x1 + pad) + 1), y1: Math.min(height, Math.ceil(y1 + pad) + 1),
  };
}

/** @param {Point} a @param {Point} b */
export function distance(a, b) {
  return Math.hypot(a.x - b.x, a.y - b.y);
}

/** Union of two ascending index arrays. @param {Uint32Array} a @param {Uint32Array} b */
export function unionSorted(a, b) {
  const out = new Uint32Array(a.length + b.length);
  let i = 0, j = 0, n = 0;
  while (i < a.length && j < b.length) {
    if (a[i] < b[j]) out[n++] = a[i++];
    else if (a[i] > b[j]) out[n++] = b[j++];
    else { out[n++] = a[i++]; j++; }
  }
  while (i < a.length) out[n++] = a[i++];
  while (j < b.length) out[n++] = b[j++];
  return out.slice(0, n);
}

/** @param {Set<number>} set */
function sortedIndices(set) {
  return Uint32Array.from(set).sort();
}

/** @returns {number[]} flat indices of the diagonal neighbours of pixel i = (x, row) inside the grid */
function diagonalNeighbours(i, x, w, size) {
  const out = [];
  const up = i >= w, down = i + w < size, left = x > 0, right = x < w - 1;
  if (up && left) out.push(i - w - 1);
  if (up && right) out.push(i - w + 1);
  if (down && left) out.push(i + w - 1);
  if (down && right) out.push(i + w + 1);
  return out;
}

/** @param {(x: number, y: number) => void} plot */
function bresenham(x0, y0, x1, y1, plot, fourConnected = false) {
  const dx = Math.abs(x1 - x0), dy = -Math.abs(y1 - y0);
  const sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  let err = dx + dy;
  for (;;) {
    plot(x0, y0);
    if (x0 === x1 && y0 === y1) return;
    const e2 = 2 * err;
    const stepX = e2 >= dy, stepY = e2 <= dx;
    if (stepX) { err += dy; x0 += sx; }
    if (stepX && stepY && fourConnected) plot(x0, y0);
    if (stepY) { err += dx; y0 += sy; }
  }
}
