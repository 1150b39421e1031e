import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { labelMapFromRows, labelMapToRows } from "../static/frontend/editor/labelmap.js";
import { buildKeymap, helpRows, keyName } from "../static/frontend/editor/shortcuts.js";
import { EditorStore } from "../static/frontend/editor/store.js";
import { BUILTIN_TOOLS, createToolRegistry } from "../static/frontend/editor/tools/index.js";
import { centre, picture } from "./helpers.mjs";

/** A store on `rows` and a driver that feeds tools like the page does (scale: 10 screen px per pixel). */
function bench(rows) {
  const store = new EditorStore({ map: labelMapFromRows(rows), radius: 1 });
  const tools = createToolRegistry();
  const messages = [];
  const commands = [];
  store.subscribe((e) => {
    if (e.type === "message") messages.push(e.text);
    if (e.type === "command") commands.push(e.name);
  });
  const ctx = (extra = {}) => ({ store, paintOver: false, scale: 10, clicks: 1, ...extra });
  const use = (name, extra) => {
    if (store.tool !== name) {
      store.setTool(name);
      tools.get(name).activate?.(ctx(extra));
    }
    return tools.get(name);
  };
  /** press, move through the points, release */
  const drag = (name, points, extra) => {
    const tool = use(name, extra);
    tool.down(ctx(extra), points[0]);
    for (const p of points.slice(1)) tool.move?.(ctx(extra), p);
    tool.up?.(ctx(extra), points.at(-1));
  };
  const click = (name, p, extra) => drag(name, [p], extra);
  const rowsNow = () => labelMapToRows(store.map);
  return { store, tools, messages, commands, ctx, use, drag, click, rowsNow };
}

const EMPTY = () => picture("........", "........", "........", "........", "........", "........");

describe("tools", () => {
  it("select picks the cell under the click and clears on background", () => {
    const b = bench(picture("11.", "..."));
    b.click("select", centre(0, 0));
    assert.equal(b.store.selected, 1);
    b.click("select", centre(2, 1));
    assert.equal(b.store.selected, 0);
  });

  it("delete removes the clicked cell", () => {
    const b = bench(picture("11.2", "11.2"));
    b.click("delete", centre(3, 0));
    assert.deepEqual(b.rowsNow(), picture("11..", "11.."));
    assert.deepEqual(b.store.editCounts(), { delete: 1 });
  });

  it("lasso draws a closed, filled new cell and selects it", () => {
    const b = bench(EMPTY());
    b.drag("lasso", [centre(1, 1), centre(4, 1), centre(4, 4), centre(1, 4)]);
    const rows = b.rowsNow();
    assert.equal(rows.flat().filter((v) => v === 1).length, 16);
    assert.equal(b.store.selected, 1);
    assert.deepEqual(b.store.editCounts(), { lasso: 1 });
    b.store.undo();
    assert.deepEqual(b.rowsNow(), EMPTY());
  });

  it("lasso over a cell keeps the cell; Shift paints over it", () => {
    const rows = picture("......", ".11...", ".11...", "......");
    const square = [centre(0, 0), centre(3, 0), centre(3, 3), centre(0, 3)];
    const b = bench(rows);
    b.drag("lasso", square);
    assert.equal(b.rowsNow().flat().filter((v) => v === 1).length, 4);
    const c = bench(rows);
    c.drag("lasso", square, { paintOver: true });
    assert.equal(c.rowsNow().flat().filter((v) => v === 1).length, 0);
  });

  it("a lasso or split click (no drag) just selects, and leaves no path drawn", () => {
    for (const name of ["lasso", "split"]) {
      const b = bench(picture("11", "11"));
      b.drag(name, [centre(0, 0)]);
      assert.deepEqual([b.store.selected, b.store.history.canUndo, b.store.draft], [1, false, null], name);
    }
  });

  it("polygon adds corners by click and closes on the first corner", () => {
    const b = bench(EMPTY());
    const tool = b.use("polygon");
    for (const p of [centre(1, 1), centre(5, 1), centre(5, 4)]) tool.down(b.ctx(), p);
    assert.equal(b.store.draft.points.length, 3);
    tool.down(b.ctx(), { x: 1.6, y: 1.6 }); // within 8 screen px of the first corner
    assert.equal(b.store.draft, null);
    assert.deepEqual(b.store.editCounts(), { polygon: 1 });
    assert.equal(b.rowsNow()[1][1], 1);
  });

  it("polygon closes on Enter or double-click, Backspace drops a corner, Escape cancels", () => {
    const b = bench(EMPTY());
    const tool = b.use("polygon");
    for (const p of [centre(1, 1), centre(5, 1), centre(5, 4), centre(7, 5)]) tool.down(b.ctx(), p);
    assert.equal(tool.onKey(b.ctx(), "backspace"), true);
    assert.equal(b.store.draft.points.length, 3);
    assert.equal(tool.onKey(b.ctx(), "enter"), true);
    assert.equal(b.store.index.count, 1);
    for (const p of [centre(0, 5), centre(2, 5), centre(2, 3)]) tool.down(b.ctx(), p);
    tool.down(b.ctx({ clicks: 2 }), centre(2, 3));
    assert.equal(b.store.index.count, 2);
    tool.down(b.ctx(), centre(6, 0));
    tool.cancel(b.ctx());
    assert.equal(b.store.draft, null);
    assert.equal(tool.onKey(b.ctx(), "enter"), false, "with no polygon open, Enter is not the tool's");
  });

  it("brush started on background with nothing selected makes a new cell; a stroke is one edit", () => {
    const b = bench(EMPTY());
    b.drag("brush", [centre(1, 2), centre(3, 2), centre(6, 2)]);
    const rows = b.rowsNow();
    assert.deepEqual(rows[2], [0, 1, 1, 1, 1, 1, 1, 0]);
    assert.equal(b.store.selected, 1);
    assert.deepEqual(b.store.editCounts(), { brush: 1 });
    b.store.undo();
    assert.deepEqual(b.rowsNow(), EMPTY());
  });

  it("brush extends the cell it starts on and stops at other cells", () => {
    const b = bench(picture("1.....2", "1.....2"));
    b.drag("brush", [centre(0, 0), centre(6, 0)]);
    assert.deepEqual(b.rowsNow()[0], [1, 1, 1, 1, 1, 1, 2]);
  });

  it("brush on background extends the selected cell", () => {
    const b = bench(picture("1....", "....."));
    b.store.select(1);
    b.drag("brush", [centre(3, 1)]);
    assert.equal(b.rowsNow()[1][3], 1);
  });

  it("eraser removes pixels of the cell it starts on only", () => {
    const b = bench(picture("1122", "1122"));
    b.drag("eraser", [centre(1, 0), centre(3, 0)]);
    assert.deepEqual(b.rowsNow(), picture("1.22", "1122"));
    b.drag("eraser", [centre(1, 0), centre(3, 0)], { paintOver: true });
    assert.deepEqual(b.rowsNow(), picture("1...", "1122"));
  });

  it("eraser on background with no selection says what to do", () => {
    const b = bench(picture("1.", ".."));
    b.drag("eraser", [centre(1, 1)]);
    assert.match(b.messages.at(-1), /Start the eraser on a cell/);
  });

  it("merge joins the clicked cell into the selected one", () => {
    const b = bench(picture("11.22", "11.22"));
    b.store.select(2);
    b.click("merge", centre(0, 0));
    assert.equal(b.store.history.canUndo, false, "a selection from before the tool was chosen takes no part");
    assert.match(b.messages.at(-1), /merge into cell 1/);
    b.click("merge", centre(4, 1));
    assert.deepEqual(b.rowsNow(), picture("11.11", "11.11"));
    assert.deepEqual(b.store.editCounts(), { merge: 1 });
  });

  it("split cuts a cell along a dragged line", () => {
    const b = bench(picture("......", ".1111.", ".1111.", "......"));
    b.drag("split", [{ x: 3, y: 0.2 }, { x: 3, y: 2 }, { x: 3, y: 3.8 }]);
    assert.equal(b.store.index.count, 2);
    assert.deepEqual(b.store.editCounts(), { split: 1 });
  });

  it("fill holes fills the clicked cell, and the selected one when chosen", () => {
    const b = bench(picture("111", "1.1", "111"));
    b.click("fill_holes", centre(0, 0));
    assert.equal(b.rowsNow()[1][1], 1);
    const c = bench(picture("111", "1.1", "111"));
    c.store.select(1);
    c.use("fill_holes");
    assert.equal(c.rowsNow()[1][1], 1);
  });

  it("accept all asks the page to submit, but only before any edit", () => {
    const b = bench(picture("1.", ".."));
    b.tools.get("accept_all").run(b.ctx());
    assert.deepEqual(b.commands, ["accept-all"]);
    b.click("delete", centre(0, 0));
    b.tools.get("accept_all").run(b.ctx());
    assert.deepEqual(b.commands, ["accept-all"]);
    assert.match(b.messages.at(-1), /Ctrl\+Enter/);
  });
});

describe("registry and shortcuts", () => {
  it("has every tool the labeller needs, each with its own key", () => {
    const tools = createToolRegistry();
    assert.deepEqual([...tools.keys()], ["select", "delete", "assist", "lasso", "polygon", "brush", "eraser", "merge", "split", "fill_holes", "accept_all"]);
    assert.equal(new Set([...tools.values()].map((t) => t.key)).size, BUILTIN_TOOLS.length);
  });

  it("maps keys to tools and commands without clashes, and lists them all in the help", () => {
    const tools = createToolRegistry();
    const keymap = buildKeymap(tools.values());
    assert.deepEqual(keymap.get("b"), { tool: "brush" });
    assert.deepEqual(keymap.get("ctrl+z"), { command: "undo" });
    assert.deepEqual(keymap.get("ctrl+shift+z"), { command: "redo" });
    const help = helpRows(tools.values()).map(([keys, what]) => `${keys} ${what}`).join("\n");
    for (const tool of tools.values()) assert.ok(help.includes(`${tool.key.toUpperCase()} ${tool.label}`), tool.name);
    assert.match(help, /Ctrl\+Z Undo/);
    assert.match(help, /Shift/);
  });

  it("names key events", () => {
    assert.equal(keyName({ key: "Z", ctrlKey: true, shiftKey: true }), "ctrl+shift+z");
    assert.equal(keyName({ key: "z", metaKey: true }), "ctrl+z");
    assert.equal(keyName({ key: "?", shiftKey: true }), "?");
    assert.equal(keyName({ key: "Enter" }), "enter");
    assert.equal(keyName({ key: " " }), "space");
    assert.equal(keyName({ key: "B" , shiftKey: true }), "shift+b");
  });
});
