// A synthetic crop for the editor benchmarks: a width x height label map with `cells` touching
// elliptical cells (seeded, so every run sees the same crop) and a matching grey image.

import { LabelMap } from "../frontend/static/frontend/editor/labelmap.js";

/** Mulberry32: a small seeded PRNG. @param {number} seed */
export function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * @param {{width?: number, height?: number, cells?: number, seed?: number}} [options]
 * @returns {{map: LabelMap, centres: {x: number, y: number, r: number}[]}}
 */
export function syntheticCrop({ width = 2048, height = 2048, cells = 2000, seed = 1 } = {}) {
  const rand = random(seed);
  const map = new LabelMap(width, height);
  const centres = [];
  // Cells on a jittered grid, so they are spread like nuclei in a dense field and many touch.
  const cols = Math.ceil(Math.sqrt((cells * width) / height));
  const rows = Math.ceil(cells / cols);
  const stepX = width / cols, stepY = height / rows;
  for (let id = 1; id <= cells; id++) {
    const k = id - 1;
    const cx = (k % cols + 0.5 + (rand() - 0.5) * 0.5) * stepX;
    const cy = (Math.floor(k / cols) + 0.5 + (rand() - 0.5) * 0.5) * stepY;
    const rx = stepX * (0.35 + rand() * 0.25), ry = stepY * (0.35 + rand() * 0.25);
    const angle = rand() * Math.PI;
    fillEllipse(map, id, cx, cy, rx, ry, angle);
    centres.push({ x: cx, y: cy, r: Math.min(rx, ry) });
  }
  return { map, centres };
}

/** A grey RGBA image: bright where there are cells, with noise. @param {LabelMap} map */
export function syntheticImage(map, seed = 2) {
  const rand = random(seed);
  const rgba = new Uint8ClampedArray(map.width * map.height * 4);
  for (let i = 0; i < map.data.length; i++) {
    const v = (map.data[i] ? 150 : 30) + rand() * 40;
    rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = v;
    rgba[4 * i + 3] = 255;
  }
  return rgba;
}

function fillEllipse(map, id, cx, cy, rx, ry, angle) {
  const r = Math.max(rx, ry);
  const cos = Math.cos(angle), sin = Math.sin(angle);
  for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(map.height, Math.ceil(cy + r)); y++) {
    for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(map.width, Math.ceil(cx + r)); x++) {
      const dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      const u = (dx * cos + dy * sin) / rx, v = (-dx * sin + dy * cos) / ry;
      if (u * u + v * v <= 1) map.data[y * map.width + x] = id;
    }
  }
}
