import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  capsulePixels, connectedComponents, discPixels, enclosedPixels, polygonInterior, polylinePixels, shapePixels,
} from "../static/frontend/editor/geometry.js";
import { centre } from "./helpers.mjs";

const W = 10, H = 8;
const xy = (indices) => [...indices].map((i) => [i % W, Math.floor(i / W)]);

describe("raster geometry", () => {
  it("fills a polygon by pixel centres", () => {
    const square = [{ x: 1, y: 1 }, { x: 4, y: 1 }, { x: 4, y: 3 }, { x: 1, y: 3 }];
    assert.deepEqual(xy(polygonInterior(square, W, H)), [[1, 1], [2, 1], [3, 1], [1, 2], [2, 2], [3, 2]]);
  });

  it("fills a concave polygon (even-odd) and clips it to the image", () => {
    const u = [{ x: 0, y: 0 }, { x: 3, y: 0 }, { x: 3, y: 3 }, { x: 2, y: 3 }, { x: 2, y: 1 }, { x: 1, y: 1 }, { x: 1, y: 3 }, { x: 0, y: 3 }];
    assert.deepEqual(xy(polygonInterior(u, W, H)), [[0, 0], [1, 0], [2, 0], [0, 1], [2, 1], [0, 2], [2, 2]]);
    const huge = [{ x: -5, y: -5 }, { x: 50, y: -5 }, { x: 50, y: 50 }, { x: -5, y: 50 }];
    assert.equal(polygonInterior(huge, W, H).length, W * H);
  });

  it("keeps the traced outline of a closed shape, so a thin lasso still has pixels", () => {
    const sliver = [{ x: 1.5, y: 1.1 }, { x: 6.5, y: 1.1 }, { x: 6.5, y: 1.3 }]; // between pixel-centre rows
    assert.equal(polygonInterior(sliver, W, H).length, 0);
    assert.deepEqual(xy(shapePixels(sliver, W, H)), [[1, 1], [2, 1], [3, 1], [4, 1], [5, 1], [6, 1]]);
  });

  it("draws a brush disc of the given radius", () => {
    assert.deepEqual(xy(discPixels(centre(4, 4), 1, W, H)), [[4, 4]]);
    assert.deepEqual(xy(discPixels(centre(4, 4), 1.2, W, H)), [[4, 3], [3, 4], [4, 4], [5, 4], [4, 5]]);
    assert.equal(discPixels(centre(4, 4), 2, W, H).length, 9);
    assert.equal(discPixels(centre(4, 4), 3, W, H).length, 25);
    assert.equal(discPixels(centre(4, 4), 4, 10, 10).length, 45);
    assert.equal(discPixels(centre(0, 0), 1.2, W, H).length, 3); // clipped at the corner
  });

  it("leaves no gap between brush dabs far apart", () => {
    const stroke = capsulePixels(centre(0, 4), centre(9, 4), 0.5, W, H);
    assert.deepEqual(xy(stroke).map(([x]) => x), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("draws 4-connected lines without diagonal gaps", () => {
    const line = xy(polylinePixels([centre(0, 0), centre(3, 3)], W, H, { fourConnected: true }));
    assert.equal(line.length, 7);
    const eight = xy(polylinePixels([centre(0, 0), centre(3, 3)], W, H));
    assert.deepEqual(eight, [[0, 0], [1, 1], [2, 2], [3, 3]]);
  });

  it("labels connected components, 4- or 8-connected", () => {
    const mask = Uint8Array.from([1, 0, 1, 0, 1, 0, 1, 0, 1]); // an X in 3x3
    assert.equal(connectedComponents(mask, 3, 3, 4).count, 5);
    const eight = connectedComponents(mask, 3, 3, 8);
    assert.equal(eight.count, 1);
    assert.deepEqual(eight.sizes, [0, 5]);
  });

  it("finds enclosed pixels, with the edge of the grid counting as outside", () => {
    const ring = Uint8Array.from([
      1, 1, 1, 0,
      1, 0, 1, 0,
      1, 1, 1, 0,
    ]);
    assert.deepEqual([...enclosedPixels(ring, 4, 3)], [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const open = Uint8Array.from([1, 0, 1, 1, 1, 1]); // 3x2, the gap touches the top edge
    assert.equal(enclosedPixels(open, 3, 2).reduce((a, b) => a + b, 0), 0);
  });
});
