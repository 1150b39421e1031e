import { deleteCell } from "../edits.js";
import { cellAt } from "./tool.js";

/** @returns {import("./tool.js").Tool} */
export function createDeleteTool() {
  return {
    name: "delete", label: "Delete", key: "d", type: "mode", cursor: "not-allowed",
    help: "Click a cell to delete it (or select it and press Delete)",
    down(ctx, p) {
      const { store } = ctx;
      store.commit(deleteCell(store.map, store.index, cellAt(ctx, p)));
    },
  };
}
