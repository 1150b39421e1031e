// Brush and eraser: strokes of discs of the store's radius, applied as the pointer moves and
// recorded as one undoable edit when the button is released.

import { erasePixels, paintPixels } from "../edits.js";
import { capsulePixels } from "../geometry.js";
import { cellAt } from "./tool.js";

/** @typedef {import("./tool.js").ToolContext} ToolContext */
/** @typedef {import("../geometry.js").Point} Point */

/**
 * @param {"brush" | "eraser"} name
 * @returns {import("./tool.js").Tool}
 */
function createStrokeTool(name) {
  const erasing = name === "eraser";
  let cell = 0;
  /** @type {Point | null} */ let last = null;

  /** @param {ToolContext} ctx @param {Point} p */
  const dab = (ctx, p) => {
    const { store } = ctx;
    const pixels = capsulePixels(last ?? p, p, store.radius, store.map.width, store.map.height);
    const options = { paintOver: ctx.paintOver };
    const result = erasing ? erasePixels(store.map, pixels, cell, options) : paintPixels(store.map, pixels, cell, options);
    if (result.diff) store.strokeStep(result.diff);
    last = p;
  };
  /** @param {ToolContext} ctx @param {Point} p */
  const showCursor = (ctx, p) => ctx.store.setDraft({ type: "circle", center: p, radius: ctx.store.radius });

  return {
    name, type: "mode", cursor: "none",
    label: erasing ? "Eraser" : "Brush",
    key: erasing ? "e" : "b",
    help: erasing
      ? "Drag to remove pixels from the cell you start on (or the selected cell); Shift erases every cell; [ ] size"
      : "Drag to add unlabelled pixels to the cell you start on (or the selected cell, or a new cell); Shift paints over; [ ] size",
    down(ctx, p) {
      const { store } = ctx;
      const under = cellAt(ctx, p);
      if (under) store.select(under);
      cell = under || store.selected || (erasing ? 0 : store.index.nextFreeId());
      if (erasing && !cell && !ctx.paintOver) {
        store.say("Start the eraser on a cell (or select one); hold Shift to erase any cell.", "warning");
        return;
      }
      store.beginStroke(name);
      last = null;
      dab(ctx, p);
      if (!erasing && store.index.has(cell)) store.select(cell);
    },
    move(ctx, p) {
      showCursor(ctx, p);
      if (last) dab(ctx, p);
    },
    up(ctx) {
      if (!last) return;
      last = null;
      ctx.store.finishStroke(name);
    },
    hover: showCursor,
    cancel(ctx) {
      last = null;
      ctx.store.cancelStroke();
      ctx.store.setDraft(null);
    },
  };
}

export const createBrushTool = () => createStrokeTool("brush");
export const createEraserTool = () => createStrokeTool("eraser");
