import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { EditorControls, formatDuration, statusLine, styleDisplay, styleOf } from "../static/frontend/editor/controls.js";
import { labelMapFromRows, labelMapToRows } from "../static/frontend/editor/labelmap.js";
import { DEFAULT_DISPLAY, EditorStore } from "../static/frontend/editor/store.js";
import { picture } from "./helpers.mjs";

/** Controls on a store of `rows`, a 100x50 canvas, and a flow and help that record their calls. */
function controlsOn(rows = picture("11.2", "11.2"), { grey = false } = {}) {
  const store = new EditorStore({ map: labelMapFromRows(rows), radius: 10 });
  const messages = [];
  store.subscribe((e) => { if (e.type === "message") messages.push([e.level, e.text]); });
  const asked = [];
  const controls = new EditorControls({
    store, flow: { submit: () => asked.push("submit") }, help: { toggle: (show) => asked.push(["help", show]) },
    canvasSize: () => ({ width: 100, height: 50 }), isGrey: () => grey,
  });
  const run = (...names) => { for (const name of names) controls.commands[name](); };
  return { store, controls, run, messages, asked };
}

describe("controls: commands", () => {
  it("steps the brush radius by a fifth, at least one pixel", () => {
    const { store, run } = controlsOn();
    run("radius-up");
    assert.equal(store.radius, 12);
    store.setRadius(3);
    run("radius-down");
    assert.equal(store.radius, 2);
  });

  it("steps the fill opacity by tenths within 0..1", () => {
    const { store, run } = controlsOn();
    run("opacity-up");
    assert.equal(store.display.opacity, 0.5);
    for (let k = 0; k < 8; k++) run("opacity-up");
    assert.equal(store.display.opacity, 1);
    for (let k = 0; k < 12; k++) run("opacity-down");
    assert.equal(store.display.opacity, 0);
  });

  it("hides the cells, cycles how they are drawn, and resets the image adjustments", () => {
    const { store, run } = controlsOn();
    run("toggle-masks");
    assert.equal(store.display.masksVisible, false);
    const styles = [];
    for (let k = 0; k < 3; k++) {
      run("cycle-style");
      styles.push(styleOf(store.display));
    }
    assert.deepEqual(styles, ["outline", "fill", "both"]);
    store.setDisplay({ brightness: 0.3, gamma: 2, channels: [false, true, true] });
    run("reset-display");
    assert.deepEqual([store.display.brightness, store.display.gamma, store.display.channels], [0, 1, DEFAULT_DISPLAY.channels]);
  });

  it("deletes the selected cell, or says how to select one", () => {
    const { store, run, messages } = controlsOn();
    run("delete-selected");
    assert.match(messages.at(-1)[1], /Select a cell first/);
    store.select(2);
    run("delete-selected", "undo");
    assert.deepEqual(labelMapToRows(store.map), picture("11.2", "11.2"));
    run("redo");
    assert.deepEqual(labelMapToRows(store.map), picture("11..", "11.."));
  });

  it("fits the crop to the canvas and zooms about its centre", () => {
    const { store, run } = controlsOn();
    run("fit");
    assert.ok(Math.abs(store.view.scale - 24.5) < 1e-9, "a 4x2 crop in 100x50: 98% of 25");
    const centre = { x: (50 - store.view.offsetX) / store.view.scale, y: (25 - store.view.offsetY) / store.view.scale };
    assert.ok(Math.abs(centre.x - 2) < 1e-9 && Math.abs(centre.y - 1) < 1e-9);
    run("zoom-in");
    assert.ok(Math.abs(store.view.scale - 24.5 * 1.25) < 1e-9);
    assert.ok(Math.abs((50 - store.view.offsetX) / store.view.scale - centre.x) < 1e-9);
    assert.ok(Math.abs((25 - store.view.offsetY) / store.view.scale - centre.y) < 1e-9);
  });

  it("shows and hides colour channels, and says a grey image has none", () => {
    const colour = controlsOn();
    colour.run("channel-2");
    assert.deepEqual(colour.store.display.channels, [true, false, true]);
    colour.controls.setChannel(1, true);
    assert.deepEqual(colour.store.display.channels, [true, true, true]);
    const grey = controlsOn(undefined, { grey: true });
    grey.run("channel-1");
    assert.deepEqual(grey.store.display.channels, [true, true, true]);
    assert.match(grey.messages.at(-1)[1], /grey/);
  });

  it("leaves submit to the flow and the help to the page", () => {
    const { run, asked } = controlsOn();
    run("submit", "help");
    assert.deepEqual(asked, ["submit", ["help", undefined]]);
  });
});

describe("controls: display values", () => {
  it("sets the display from sliders in percent and reads it back for the inputs", () => {
    const { store, controls } = controlsOn();
    controls.setPercent("brightness", "-20");
    controls.setPercent("contrast", 150);
    controls.setStyle("outline");
    assert.deepEqual([store.display.brightness, store.display.contrast], [-0.2, 1.5]);
    assert.deepEqual(controls.values(), {
      opacity: "35", brightness: "-20", contrast: "150", gamma: "100", style: "outline", masks: true, channels: [true, true, true],
    });
    assert.deepEqual(styleDisplay("fill"), { showFill: true, showOutline: false });
  });
});

describe("status line", () => {
  it("counts cells, places left to check, edits and time, and names the selection and the cell under the pointer", () => {
    const { store, controls } = controlsOn();
    const places = [{ x: 0.5, y: 0.5, radius: 1 }, { x: 2.5, y: 0.5, radius: 1 }];
    assert.equal(statusLine(store, 0, []), "2 cells · 0 edits · 0:00 on this crop · zoom 100%");
    store.select(2);
    controls.commands["delete-selected"]();
    store.select(1);
    store.setHover(1);
    store.setTool("brush");
    assert.equal(statusLine(store, 75.9, places),
      "1 cells · 1 circled place to check · selected: cell 1 (4 px) · under the cursor: cell 1 · 1 edit (unsaved) · 1:15 on this crop · radius 10 · zoom 100%");
    assert.equal(formatDuration(3600), "60:00");
  });
});
