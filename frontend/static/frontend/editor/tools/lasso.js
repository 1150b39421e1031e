import { drawCell } from "../edits.js";
import { shapePixels } from "../geometry.js";
import { FreehandPath, isClick } from "./freehand.js";
import { cellAt } from "./tool.js";

/** @returns {import("./tool.js").Tool} */
export function createLassoTool() {
  const path = new FreehandPath(true);
  return {
    name: "lasso", label: "Lasso", key: "l", type: "mode", cursor: "crosshair",
    help: "Drag around a new cell; it takes only unlabelled pixels (hold Shift when releasing to paint over cells)",
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
      const pixels = shapePixels(points, store.map.width, store.map.height);
      store.commit(drawCell(store.map, store.index, pixels, "lasso", { paintOver: ctx.paintOver }));
    },
    cancel: (ctx) => path.cancel(ctx),
  };
}
