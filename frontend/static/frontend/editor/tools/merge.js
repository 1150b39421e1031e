import { mergeCells } from "../edits.js";
import { cellAt } from "./tool.js";

/** @returns {import("./tool.js").Tool} */
export function createMergeTool() {
  return {
    name: "merge", label: "Merge", key: "m", type: "mode", cursor: "copy",
    help: "Click a cell (or keep the selected one), then click the cell to merge into it",
    down(ctx, p) {
      const { store } = ctx;
      const id = cellAt(ctx, p);
      if (!id) {
        store.select(0);
        return;
      }
      if (!store.selected || store.selected === id) {
        store.select(id);
        store.say(`Now click the cell to merge into cell ${id}.`);
        return;
      }
      store.commit(mergeCells(store.map, store.index, store.selected, id));
    },
  };
}
