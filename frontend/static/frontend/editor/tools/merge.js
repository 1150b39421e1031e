import { mergeCells } from "../edits.js";
import { cellAt } from "./tool.js";

/**
 * Two clicks: the first cell, then the cell to merge into it. Choosing the tool clears the
 * selection, so a cell selected earlier (say, one just drawn) never takes part by surprise.
 * @returns {import("./tool.js").Tool}
 */
export function createMergeTool() {
  return {
    name: "merge", label: "Merge", key: "m", type: "mode", cursor: "copy",
    help: "Click a cell, then the cell to merge into it (the merged cell keeps the first one's id)",
    activate(ctx) {
      ctx.store.select(0);
      ctx.store.say("Merge: click the first cell, then the cell to merge into it.");
    },
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
