// The label map: one cell id per pixel (0 = background), row-major, and an index of cells.
// No DOM here: node's test runner and the benchmark use these directly.

/** Largest cell id the server accepts (annotations/masks.py MAX_LABEL: ids are uint16). */
export const MAX_LABEL = 65535;

/**
 * An axis-aligned pixel rectangle, end-exclusive, in image pixels.
 * @typedef {{x0: number, y0: number, x1: number, y1: number}} Rect
 */

export class LabelMap {
  /**
   * @param {number} width
   * @param {number} height
   * @param {Uint16Array} [data] row-major ids, width*height long; a fresh zeroed array when omitted
   */
  constructor(width, height, data) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
      throw new RangeError(`label map size must be whole numbers, got ${width}x${height}`);
    }
    const size = width * height;
    if (data && data.length !== size) {
      throw new RangeError(`label map data has ${data.length} pixels, expected ${width}x${height} = ${size}`);
    }
    /** @readonly */ this.width = width;
    /** @readonly */ this.height = height;
    /** @readonly */ this.data = data ?? new Uint16Array(size);
  }

  /** Id at (x, y); 0 outside the map. Coordinates are floored, so any point in a pixel hits it. */
  idAt(x, y) {
    const px = Math.floor(x);
    const py = Math.floor(y);
    if (px < 0 || py < 0 || px >= this.width || py >= this.height) return 0;
    return this.data[py * this.width + px];
  }

  /** @returns {LabelMap} an independent copy */
  clone() {
    return new LabelMap(this.width, this.height, this.data.slice());
  }

  /** @returns {Rect} the whole map */
  get bounds() {
    return { x0: 0, y0: 0, x1: this.width, y1: this.height };
  }
}

/** @param {number[][]} rows equal-length rows of ids (tests and fixtures) */
export function labelMapFromRows(rows) {
  const height = rows.length;
  const width = height ? rows[0].length : 0;
  const map = new LabelMap(width, height);
  rows.forEach((row, y) => {
    if (row.length !== width) throw new RangeError(`row ${y} has ${row.length} pixels, expected ${width}`);
    map.data.set(row, y * width);
  });
  return map;
}

/** @param {LabelMap} map @returns {number[][]} */
export function labelMapToRows(map) {
  const rows = [];
  for (let y = 0; y < map.height; y++) rows.push(Array.from(map.data.subarray(y * map.width, (y + 1) * map.width)));
  return rows;
}

/**
 * Per-cell area and bounding box, kept up to date edit by edit so that tools touch only a cell's
 * box instead of the whole map. Boxes only grow while a cell loses pixels (they stay correct
 * bounds, just loose); `tightBox` shrinks one on demand.
 */
export class CellIndex {
  /** @param {number} width */
  constructor(width) {
    this.width = width;
    const n = MAX_LABEL + 1;
    this.area = new Uint32Array(n);
    this.x0 = new Int32Array(n).fill(0x7fffffff);
    this.y0 = new Int32Array(n).fill(0x7fffffff);
    this.x1 = new Int32Array(n);
    this.y1 = new Int32Array(n);
    /** number of cells (ids > 0 with area > 0) */
    this.count = 0;
    this._maxId = 0;
  }

  /** @param {LabelMap} map */
  static build(map) {
    const index = new CellIndex(map.width);
    const { data, width, height } = map;
    const { area, x0, y0, x1, y1 } = index;
    for (let y = 0, i = 0; y < height; y++) {
      let x = 0;
      while (x < width) {
        const id = data[i];
        const start = x;
        do { x++; i++; } while (x < width && data[i] === id);
        if (id === 0) continue;
        if (area[id] === 0) index.count++;
        area[id] += x - start;
        if (start < x0[id]) x0[id] = start;
        if (x > x1[id]) x1[id] = x;
        if (y < y0[id]) y0[id] = y;
        if (y + 1 > y1[id]) y1[id] = y + 1;
        if (id > index._maxId) index._maxId = id;
      }
    }
    return index;
  }

  /** @param {number} id */
  has(id) {
    return id > 0 && id <= MAX_LABEL && this.area[id] > 0;
  }

  /** @param {number} id @returns {Rect | null} a bound of the cell's pixels (may be loose) */
  box(id) {
    if (!this.has(id)) return null;
    return { x0: this.x0[id], y0: this.y0[id], x1: this.x1[id], y1: this.y1[id] };
  }

  /** @returns {number[]} ids of all cells, ascending */
  ids() {
    const out = [];
    for (let id = 1; id <= this._maxId; id++) if (this.area[id] > 0) out.push(id);
    return out;
  }

  get maxId() {
    while (this._maxId > 0 && this.area[this._maxId] === 0) this._maxId--;
    return this._maxId;
  }

  /** The id a new cell gets: one past the largest, or the smallest unused when that is full. */
  nextFreeId() {
    const top = this.maxId;
    if (top < MAX_LABEL) return top + 1;
    for (let id = 1; id <= MAX_LABEL; id++) if (this.area[id] === 0) return id;
    throw new RangeError(`this crop already has ${MAX_LABEL} cells, the most a mask can hold`);
  }

  /**
   * Account for pixels changing id.
   * @param {Uint32Array} indices flat pixel indices
   * @param {Uint16Array} from ids before
   * @param {Uint16Array} to ids after
   */
  update(indices, from, to) {
    const { area, width } = this;
    for (let k = 0; k < indices.length; k++) {
      const a = from[k];
      const b = to[k];
      if (a === b) continue;
      if (a !== 0 && --area[a] === 0) this._forget(a);
      if (b !== 0) {
        if (area[b]++ === 0) this.count++;
        const i = indices[k];
        const y = (i / width) | 0;
        const x = i - y * width;
        if (x < this.x0[b]) this.x0[b] = x;
        if (x + 1 > this.x1[b]) this.x1[b] = x + 1;
        if (y < this.y0[b]) this.y0[b] = y;
        if (y + 1 > this.y1[b]) this.y1[b] = y + 1;
        if (b > this._maxId) this._maxId = b;
      }
    }
  }

  /**
   * Shrink a cell's box to its pixels.
   * @param {LabelMap} map @param {number} id @returns {Rect | null}
   */
  tightBox(map, id) {
    const box = this.box(id);
    if (!box) return null;
    let x0 = box.x1, y0 = box.y1, x1 = box.x0, y1 = box.y0;
    const { data, width } = map;
    for (let y = box.y0; y < box.y1; y++) {
      for (let x = box.x0, i = y * width + box.x0; x < box.x1; x++, i++) {
        if (data[i] !== id) continue;
        if (x < x0) x0 = x;
        if (x >= x1) x1 = x + 1;
        if (y < y0) y0 = y;
        y1 = y + 1;
      }
    }
    this.x0[id] = x0; this.y0[id] = y0; this.x1[id] = x1; this.y1[id] = y1;
    return { x0, y0, x1, y1 };
  }

  /** @param {number} id */
  _forget(id) {
    this.count--;
    this.x0[id] = 0x7fffffff;
    this.y0[id] = 0x7fffffff;
    this.x1[id] = 0;
    this.y1[id] = 0;
  }
}

/**
 * Flat indices of a cell's pixels, ascending.
 * @param {LabelMap} map @param {CellIndex} index @param {number} id @returns {Uint32Array}
 */
export function cellPixels(map, index, id) {
  const box = index.box(id);
  if (!box) return new Uint32Array(0);
  const out = new Uint32Array(index.area[id]);
  const { data, width } = map;
  let n = 0;
  for (let y = box.y0; y < box.y1; y++) {
    for (let i = y * width + box.x0, end = y * width + box.x1; i < end; i++) if (data[i] === id) out[n++] = i;
  }
  return out;
}

// ---- rectangles -------------------------------------------------------------------------------

/** @param {Rect | null} a @param {Rect | null} b @returns {Rect | null} */
export function unionRect(a, b) {
  if (!a) return b;
  if (!b) return a;
  return { x0: Math.min(a.x0, b.x0), y0: Math.min(a.y0, b.y0), x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1) };
}

/** Grow by `by` pixels on every side, clipped to width x height. @returns {Rect} */
export function growRect(rect, by, width, height) {
  return {
    x0: Math.max(0, rect.x0 - by),
    y0: Math.max(0, rect.y0 - by),
    x1: Math.min(width, rect.x1 + by),
    y1: Math.min(height, rect.y1 + by),
  };
}

/** @param {Rect} rect */
export function rectArea(rect) {
  return Math.max(0, rect.x1 - rect.x0) * Math.max(0, rect.y1 - rect.y0);
}
