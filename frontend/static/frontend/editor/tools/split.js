import { splitCell } from "../edits.js";
import { FreehandPath, isClick } from "./freehand.js";
import { cellAt } from "./tool.js";

/** @returns {import("./tool.js").Tool} */
export function createSplitTool() {
  const path = new FreehandPath(false);
  return {
    name: "split", label: "Split", key: "s", type: "mode", cursor: "crosshair",
    help: "Drag a line across a cell, from outside to outside; each side becomes its own cell",
    down: (ctx, p) => path.start(ctx, p),
    move: (ctx, p) => path.extend(ctx, p),
    up(ctx, p) {
      const points = path.finish(ctx, p);
      if (!points) return;
      const { store } = ctx;
      if (isClick(points, ctx.scale)) {
        store.select(cellAt(ctx, points[0]));
        return;
      }
      store.commit(splitCell(store.map, store.index, points, store.selected));
    },
    cancel: (ctx) => path.cancel(ctx),
  };
}
