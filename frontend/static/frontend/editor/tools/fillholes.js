import { fillHoles } from "../edits.js";
import { cellAt } from "./tool.js";

/** @returns {import("./tool.js").Tool} */
export function createFillHolesTool() {
  /** @param {import("./tool.js").ToolContext} ctx @param {number} id */
  const fill = (ctx, id) => ctx.store.commit(fillHoles(ctx.store.map, ctx.store.index, id, { paintOver: ctx.paintOver }));
  return {
    name: "fill_holes", label: "Fill holes", key: "h", type: "mode", cursor: "cell",
    help: "Click a cell to fill its holes (choosing this tool fills the selected cell's at once)",
    activate(ctx) {
      if (ctx.store.selected) fill(ctx, ctx.store.selected);
    },
    down: (ctx, p) => fill(ctx, cellAt(ctx, p)),
  };
}
