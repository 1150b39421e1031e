import { cellAt } from "./tool.js";

/** @returns {import("./tool.js").Tool} */
export function createSelectTool() {
  return {
    name: "select", label: "Select", key: "v", type: "mode", cursor: "default",
    help: "Click a cell to select it; click the background to clear the selection",
    down(ctx, p) {
      ctx.store.select(cellAt(ctx, p));
    },
  };
}
