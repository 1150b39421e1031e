import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { EditorInput } from "../static/frontend/editor/input.js";
import { labelMapFromRows, labelMapToRows } from "../static/frontend/editor/labelmap.js";
import { buildKeymap } from "../static/frontend/editor/shortcuts.js";
import { EditorStore } from "../static/frontend/editor/store.js";
import { createToolRegistry } from "../static/frontend/editor/tools/index.js";
import { picture } from "./helpers.mjs";

/**
 * Input on a store showing `rows` at 10 screen px per pixel, offset (5, 5); fake flow, timer,
 * commands and help that record what reaches them.
 */
function inputOn(rows = picture("......", "......", "......", "......", "......", "......")) {
  const store = new EditorStore({ map: labelMapFromRows(rows) });
  store.setView({ scale: 10, offsetX: 5, offsetY: 5 });
  const tools = createToolRegistry();
  const ran = [];
  const commands = { undo: () => ran.push("undo"), help: () => ran.push("help"), submit: () => ran.push("submit") };
  const timer = { pokes: 0, poke() { this.pokes++; } };
  const flow = { busy: false, crop: { id: 1 } };
  const help = { open: false, isOpen() { return this.open; }, toggle(show = !this.open) { this.open = show; } };
  const input = new EditorInput({ store, tools, keymap: buildKeymap(tools.values()), timer, flow, commands, help });
  /** the screen point (canvas CSS px) over image point (x, y) */
  const at = (x, y, extra = {}) => ({ x: 5 + x * 10, y: 5 + y * 10, button: 0, detail: 1, ...extra });
  const drag = (points, extra) => {
    input.pointerDown(at(...points[0], extra));
    for (const p of points.slice(1)) input.pointerMove(at(...p, extra));
    input.pointerUp(at(...points.at(-1), extra));
  };
  const key = (k, extra = {}) => input.keyDown({ key: k, ...extra });
  return { store, input, ran, timer, flow, help, at, drag, key, rows: () => labelMapToRows(store.map) };
}

const SQUARE = [[1, 1], [4, 1], [4, 4], [1, 4]];

describe("input: pointer", () => {
  it("drives the active tool with image points: a lasso drag draws a cell", () => {
    const t = inputOn();
    t.key("l");
    assert.equal(t.input.pointerDown(t.at(1, 1)), "draw");
    assert.equal(t.input.drawing, true);
    for (const p of SQUARE.slice(1)) t.input.pointerMove(t.at(...p));
    t.input.pointerUp(t.at(1, 4));
    assert.equal(t.input.drawing, false);
    assert.deepEqual([t.store.index.count, t.store.editCounts(), t.rows()[2][2], t.rows()[0][0]], [1, { lasso: 1 }, 1, 0]);
    assert.ok(t.timer.pokes >= 4, "drawing counts as work");
  });

  it("gives the tool every move the browser merged into one event", () => {
    const t = inputOn();
    t.key("l");
    t.input.pointerDown(t.at(1, 1));
    t.input.pointerMove({ ...t.at(1, 4), coalesced: () => SQUARE.slice(1).map((p) => t.at(...p)) });
    assert.equal(t.store.draft.points.length, 4);
  });

  it("pans with the middle or right button, or the main one with Space held, and never draws", () => {
    const t = inputOn();
    t.key("l");
    assert.equal(t.input.pointerDown(t.at(1, 1, { button: 1 })), "pan");
    t.input.pointerMove(t.at(3, 2));
    t.input.pointerUp(t.at(3, 2));
    assert.deepEqual(t.store.view, { scale: 10, offsetX: 25, offsetY: 15 });
    assert.equal(t.key(" "), true);
    assert.equal(t.input.pointerDown(t.at(0, 0)), "pan");
    t.input.pointerUp(t.at(0, 0));
    t.input.keyUp({ key: " " });
    assert.equal(t.input.pointerDown(t.at(0, 0)), "draw");
    assert.equal(t.store.history.canUndo, false);
  });

  it("does not draw while a request is under way or when no crop is open", () => {
    const t = inputOn();
    t.key("l");
    t.flow.busy = true;
    assert.equal(t.input.pointerDown(t.at(1, 1)), null);
    t.flow.busy = false;
    t.flow.crop = null;
    t.drag(SQUARE);
    assert.equal(t.store.draft, null);
    assert.equal(t.store.index.count, 0);
  });

  it("shows the cell under the pointer and the brush circle, and drops both when it leaves", () => {
    const t = inputOn(picture("11.", "11.", "..."));
    t.key("b");
    t.input.pointerMove({ ...t.at(0.5, 0.5), button: -1 });
    assert.equal(t.store.hover, 1);
    assert.equal(t.store.draft.type, "circle");
    t.input.pointerLeave();
    assert.deepEqual([t.store.hover, t.store.draft], [0, null]);
  });

  it("zooms at the pointer with the wheel", () => {
    const t = inputOn();
    const before = t.at(2, 3);
    t.input.wheel({ ...before, deltaY: -100 });
    assert.ok(t.store.view.scale > 10);
    const { scale, offsetX, offsetY } = t.store.view;
    assert.ok(Math.abs((before.x - offsetX) / scale - 2) < 1e-9 && Math.abs((before.y - offsetY) / scale - 3) < 1e-9);
  });
});

describe("input: keys", () => {
  it("chooses tools and runs commands by their keys, and leaves other keys to the browser", () => {
    const t = inputOn();
    assert.equal(t.key("b"), true);
    assert.equal(t.store.tool, "brush");
    assert.equal(t.key("z", { ctrlKey: true }), true);
    assert.deepEqual(t.ran, ["undo"]);
    assert.equal(t.key("q"), false);
  });

  it("while a request is under way, only opens the help", () => {
    const t = inputOn();
    t.flow.busy = true;
    assert.equal(t.key("b"), false);
    assert.equal(t.key("Enter", { ctrlKey: true }), false);
    assert.equal(t.key("?", { shiftKey: true }), true);
    assert.deepEqual([t.store.tool, t.ran], ["select", ["help"]]);
  });

  it("closes the open help with Escape before anything else", () => {
    const t = inputOn(picture("1."));
    t.store.select(1);
    t.help.open = true;
    assert.equal(t.key("Escape"), true);
    assert.deepEqual([t.help.open, t.store.selected], [false, 1]);
    t.key("Escape");
    assert.equal(t.store.selected, 0, "with the help closed, Escape clears the selection");
  });

  it("Escape cancels a drawing in progress, and only that", () => {
    const t = inputOn(picture("1....", ".....", ".....", ".....", "....."));
    t.store.select(1);
    t.key("l");
    t.input.pointerDown(t.at(1, 1));
    t.input.pointerMove(t.at(4, 1));
    t.key("Escape");
    assert.equal(t.store.draft, null);
    assert.equal(t.store.selected, 1);
    t.input.pointerUp(t.at(4, 4));
    assert.equal(t.store.index.count, 1, "the cancelled lasso draws nothing on release");
  });

  it("offers keys to the active tool first: Enter closes a polygon", () => {
    const t = inputOn();
    t.key("p");
    for (const p of [[1, 1], [4, 1], [4, 4]]) t.drag([p]);
    assert.equal(t.key("Enter"), true);
    assert.equal(t.store.index.count, 1);
    assert.deepEqual(t.store.editCounts(), { polygon: 1 });
  });

  it("runs an action tool without making it the active one, and a new tool cancels the old one's drawing", () => {
    const t = inputOn();
    t.key("p");
    t.drag([[1, 1]]);
    t.key("a");
    assert.equal(t.store.tool, "polygon");
    assert.equal(t.store.draft.points.length, 1);
    t.input.chooseTool("select");
    assert.deepEqual([t.store.tool, t.store.draft], ["select", null]);
  });

  it("passes Shift as paint-over, Alt, and the click count to the tool", () => {
    const t = inputOn();
    const base = { store: t.store, scale: 10, assist: undefined };
    assert.deepEqual(t.input.context({ shiftKey: true, altKey: true, detail: 2 }), { ...base, paintOver: true, alt: true, clicks: 2 });
    assert.deepEqual(t.input.context(undefined), { ...base, paintOver: false, alt: false, clicks: 1 });
  });
});
