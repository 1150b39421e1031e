import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { adjustImage, colorForId, intensityLut, isGrey, makePalette, openPlaces, paintOverlay } from "../static/frontend/editor/overlay.js";
import { labelMapFromRows } from "../static/frontend/editor/labelmap.js";
import { ActiveTimer } from "../static/frontend/editor/timer.js";
import { fitView, imageToScreen, panBy, screenToImage, wheelFactor, zoomAt } from "../static/frontend/editor/viewport.js";
import { picture } from "./helpers.mjs";

describe("viewport", () => {
  it("fits the image centred in the canvas", () => {
    const view = fitView(200, 100, 400, 400);
    assert.ok(Math.abs(view.scale - 1.96) < 1e-9);
    const topLeft = imageToScreen(view, 0, 0), bottomRight = imageToScreen(view, 200, 100);
    assert.ok(Math.abs(topLeft.x - (400 - bottomRight.x)) < 1e-9);
    assert.ok(Math.abs(topLeft.y - (400 - bottomRight.y)) < 1e-9);
  });

  it("zooms about the cursor: the image point under it stays put", () => {
    const view = { scale: 2, offsetX: 30, offsetY: -10 };
    const before = screenToImage(view, 123, 77);
    const zoomed = zoomAt(view, 1.7, 123, 77);
    const after = screenToImage(zoomed, 123, 77);
    assert.ok(Math.abs(before.x - after.x) < 1e-9 && Math.abs(before.y - after.y) < 1e-9);
    assert.equal(zoomAt(view, 1e9, 0, 0).scale, 64, "clamped");
  });

  it("pans and converts both ways", () => {
    const view = panBy({ scale: 3, offsetX: 0, offsetY: 0 }, 5, -6);
    const p = screenToImage(view, 50, 60);
    const back = imageToScreen(view, p.x, p.y);
    assert.deepEqual([back.x, back.y], [50, 60]);
    assert.ok(wheelFactor(-100) > 1 && wheelFactor(100) < 1);
  });
});

describe("places where the model may have missed a cell", () => {
  it("stay circled until a cell covers them", () => {
    const map = labelMapFromRows(picture(
      ".....",
      ".11..",
      ".11..",
      "....."));
    const places = [{ x: 1.5, y: 1.5, radius: 1 }, { x: 3.5, y: 2.5, radius: 1 }, { x: 9, y: 9, radius: 1 }];
    assert.deepEqual(openPlaces(places, map), [places[1], places[2]], "inside cell 1: covered; off the crop: open");
    map.data[2 * map.width + 3] = 2; // the labeller adds a cell over the second place
    assert.deepEqual(openPlaces(places, map), [places[2]]);
  });
});

describe("overlay pixels", () => {
  const map = labelMapFromRows(picture(
    ".....",
    ".111.",
    ".111.",
    ".111.",
    "....."));
  const palette = makePalette();
  const style = { showFill: true, showOutline: true, opacity: 0.4, selected: 0, hover: 0 };
  const alpha = (word) => word >>> 24;

  it("draws outlines opaque and fills translucent, background clear", () => {
    const out = new Uint32Array(25);
    paintOverlay(out, map, map.bounds, style, palette);
    assert.equal(out[0], 0);
    assert.equal(alpha(out[6]), 255, "edge pixel is outline");
    assert.equal(alpha(out[12]), Math.round(0.4 * 255), "inner pixel is fill");
    assert.equal(out[12] & 0xffffff, palette[1]);
  });

  it("outlines the selected cell in white", () => {
    const out = new Uint32Array(25);
    paintOverlay(out, map, map.bounds, { ...style, selected: 1 }, palette);
    assert.equal(out[6] & 0xffffff, 0xffffff);
  });

  it("touches only the rectangle asked for", () => {
    const out = new Uint32Array(25).fill(7);
    paintOverlay(out, map, { x0: 1, y0: 1, x1: 2, y1: 2 }, style, palette);
    assert.equal(out.filter((w) => w === 7).length, 24);
  });

  it("hides fills or outlines on request", () => {
    const out = new Uint32Array(25);
    paintOverlay(out, map, map.bounds, { ...style, showFill: false }, palette);
    assert.equal(alpha(out[12]), 0);
    paintOverlay(out, map, map.bounds, { ...style, showOutline: false }, palette);
    assert.equal(alpha(out[6]), Math.round(0.4 * 255));
  });

  it("gives neighbouring ids clearly different colours", () => {
    const [r1, g1, b1] = colorForId(1), [r2, g2, b2] = colorForId(2);
    assert.ok(Math.abs(r1 - r2) + Math.abs(g1 - g2) + Math.abs(b1 - b2) > 100);
  });

  it("adjusts brightness, contrast and gamma through a lookup table, and hides channels", () => {
    const identity = intensityLut({ brightness: 0, contrast: 1, gamma: 1 });
    assert.deepEqual([...identity], Array.from({ length: 256 }, (_, v) => v));
    const bright = intensityLut({ brightness: 0.2, contrast: 1, gamma: 1 });
    assert.equal(bright[0], 51);
    assert.ok(intensityLut({ brightness: 0, contrast: 1, gamma: 0.5 })[64] > 64);
    const src = Uint8ClampedArray.of(10, 20, 30, 255), dst = new Uint8ClampedArray(4);
    adjustImage(src, dst, identity, [true, false, true]);
    assert.deepEqual([...dst], [10, 0, 30, 255]);
    assert.equal(isGrey(Uint8ClampedArray.of(5, 5, 5, 255)), true);
    assert.equal(isGrey(src), false);
  });
});

describe("time on crop", () => {
  it("counts active time, caps idle spans and skips hidden time", () => {
    let now = 0;
    const timer = new ActiveTimer(() => now, 60_000);
    now = 10_000;
    timer.poke();
    assert.equal(timer.seconds(), 10);
    now = 500_000; // away for a long time: only the idle cap counts
    assert.equal(timer.seconds(), 70);
    timer.poke();
    timer.setVisible(false);
    now = 900_000;
    assert.equal(timer.seconds(), 70);
    timer.setVisible(true);
    now = 905_000;
    assert.equal(timer.seconds(), 75);
    timer.restart();
    assert.equal(timer.seconds(), 0);
  });
});
