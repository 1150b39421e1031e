import { drawCell } from "../edits.js";
import { shapePixels } from "../geometry.js";
import { createFreehandTool } from "./freehand.js";

/** @returns {import("./tool.js").Tool} */
export function createLassoTool() {
  return createFreehandTool({
    name: "lasso", label: "Lasso", key: "l", closed: true,
    help: "Drag around a new cell; it takes only unlabelled pixels (hold Shift when releasing to paint over cells)",
    edit({ store, paintOver }, points) {
      const pixels = shapePixels(points, store.map.width, store.map.height);
      return drawCell(store.map, store.index, pixels, "lasso", { paintOver });
    },
  });
}
