import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { diffSetting } from "../static/frontend/editor/diff.js";
import { deleteCell, drawCell, paintPixels } from "../static/frontend/editor/edits.js";
import { capsulePixels } from "../static/frontend/editor/geometry.js";
import { labelMapFromRows, labelMapToRows } from "../static/frontend/editor/labelmap.js";
import { EditorStore } from "../static/frontend/editor/store.js";
import { UndoStack } from "../static/frontend/editor/undo.js";
import { centre, picture } from "./helpers.mjs";

const start = () => picture(
  "11..",
  "11.2",
  "...2");

function storeWith(rows = start()) {
  const store = new EditorStore({ map: labelMapFromRows(rows) });
  const events = [];
  store.subscribe((e) => events.push(e));
  return { store, events };
}

describe("editor store: edits, undo and redo", () => {
  it("applies an edit, and undo/redo restore the map exactly", () => {
    const { store, events } = storeWith();
    assert.equal(store.commit(deleteCell(store.map, store.index, 2)), true);
    assert.deepEqual(labelMapToRows(store.map), picture("11..", "11..", "...."));
    assert.equal(store.index.has(2), false);
    const labels = events.find((e) => e.type === "labels");
    assert.deepEqual(labels.rect, { x0: 3, y0: 1, x1: 4, y1: 3 });
    store.undo();
    assert.deepEqual(labelMapToRows(store.map), start());
    assert.equal(store.index.area[2], 2);
    store.redo();
    assert.deepEqual(labelMapToRows(store.map), picture("11..", "11..", "...."));
  });

  it("counts edits by kind, net of undo", () => {
    const { store } = storeWith();
    store.commit(deleteCell(store.map, store.index, 2));
    store.commit(deleteCell(store.map, store.index, 1));
    const px = Uint32Array.of(2, 3);
    store.commit(drawCell(store.map, store.index, px, "lasso"));
    assert.deepEqual(store.editCounts(), { delete: 2, lasso: 1 });
    store.undo();
    assert.deepEqual(store.editCounts(), { delete: 2 });
    store.redo();
    assert.deepEqual(store.editCounts(), { delete: 2, lasso: 1 });
  });

  it("knows when there are unsaved edits", () => {
    const { store } = storeWith();
    assert.equal(store.isDirty, false);
    store.commit(deleteCell(store.map, store.index, 2));
    assert.equal(store.isDirty, true);
    store.undo();
    assert.equal(store.isDirty, false, "undoing everything is back to what was loaded");
    store.redo();
    store.markSaved();
    assert.equal(store.isDirty, false);
    store.undo();
    assert.equal(store.isDirty, true);
  });

  it("a new edit after undo drops the redo branch", () => {
    const { store } = storeWith();
    store.commit(deleteCell(store.map, store.index, 2));
    store.undo();
    store.commit(deleteCell(store.map, store.index, 1));
    assert.equal(store.history.canRedo, false);
    assert.deepEqual(labelMapToRows(store.map), picture("....", "...2", "...2"));
  });

  it("records a whole brush stroke as one undoable edit", () => {
    const { store } = storeWith(picture("......", "......", "......"));
    store.beginStroke("brush");
    const points = [centre(0, 1), centre(2, 1), centre(5, 1)];
    for (let k = 1; k < points.length; k++) {
      const pixels = capsulePixels(points[k - 1], points[k], 0.5, 6, 3);
      store.strokeStep(paintPixels(store.map, pixels, 4).diff);
    }
    store.finishStroke();
    assert.deepEqual(labelMapToRows(store.map), picture("......", "444444", "......"));
    assert.deepEqual(store.editCounts(), { brush: 1 });
    store.undo();
    assert.deepEqual(labelMapToRows(store.map), picture("......", "......", "......"));
  });

  it("takes back a cancelled stroke without a history entry", () => {
    const { store } = storeWith();
    store.beginStroke("eraser");
    store.strokeStep(diffSetting(store.map, "eraser", Uint32Array.of(0, 1), 0));
    assert.equal(store.map.data[0], 0);
    store.cancelStroke();
    assert.deepEqual(labelMapToRows(store.map), start());
    assert.equal(store.history.canUndo, false);
  });

  it("selects a drawn cell, and clears the selection when undo removes it", () => {
    const { store } = storeWith();
    store.commit(drawCell(store.map, store.index, Uint32Array.of(2, 3), "polygon"));
    assert.equal(store.selected, 3);
    store.undo();
    assert.equal(store.selected, 0);
  });

  it("says why an edit did nothing, and records nothing", () => {
    const { store, events } = storeWith();
    assert.equal(store.commit(deleteCell(store.map, store.index, 9)), false);
    assert.equal(store.history.canUndo, false);
    assert.equal(events.at(-1).type, "message");
    assert.equal(events.at(-1).level, "warning");
  });

  it("shows another map read-only and brings back the one being edited, with its history", () => {
    const { store, events } = storeWith();
    store.commit(deleteCell(store.map, store.index, 2));
    store.showAside(labelMapFromRows(picture("7...", "....", "....")), "read-only here");
    assert.deepEqual([store.index.count, store.isDirty, store.history.canUndo, store.readOnly], [1, true, false, "read-only here"]);
    assert.equal(store.commit(deleteCell(store.map, store.index, 7)), false);
    assert.deepEqual(events.at(-1), { type: "message", text: "read-only here", level: "warning" });
    store.beginStroke("brush");
    store.strokeStep(paintPixels(store.map, Uint32Array.of(1), 7).diff);
    store.finishStroke();
    assert.deepEqual(labelMapToRows(store.map), picture("7...", "....", "...."));
    store.bringBack();
    assert.deepEqual(labelMapToRows(store.map), picture("11..", "11..", "...."));
    assert.deepEqual([store.readOnly, store.isDirty, store.editCounts()], ["", true, { delete: 1 }]);
    store.undo();
    assert.deepEqual(labelMapToRows(store.map), start());
    store.showAside(labelMapFromRows(picture("7...", "....", "....")), "read-only here");
    store.load(labelMapFromRows(picture("5.")));
    assert.equal(store.readOnly, "", "a new crop is editable");
    store.bringBack();
    assert.deepEqual(labelMapToRows(store.map), picture("5."), "nothing left aside from the last crop");
  });

  it("starts afresh on load", () => {
    const { store } = storeWith();
    store.commit(deleteCell(store.map, store.index, 2));
    store.select(1);
    store.load(labelMapFromRows(picture("5.")));
    assert.deepEqual([store.selected, store.isDirty, store.history.canUndo, store.index.count], [0, false, false, 1]);
    assert.deepEqual(store.editCounts(), {});
  });
});

describe("undo stack", () => {
  const diff = (n) => ({ kind: "brush", indices: new Uint32Array(n), before: new Uint16Array(n), after: new Uint16Array(n), rect: null });

  it("drops the oldest entries beyond its limits, keeping the newest", () => {
    const stack = new UndoStack({ maxEntries: 3, maxPixels: 100 });
    for (let k = 0; k < 5; k++) stack.push(diff(10));
    assert.equal(stack.done.length, 3);
    stack.push(diff(90));
    assert.equal(stack.done.length, 2);
    assert.equal(stack.pixels, 100);
  });

  it("keeps the state identity honest after dropping entries", () => {
    const stack = new UndoStack({ maxEntries: 1 });
    stack.push(diff(1));
    stack.push(diff(1));
    stack.takeUndo();
    assert.notEqual(stack.stateSerial, 0, "the first edit is still in effect; this is not the loaded state");
  });
});
