import { mergeCells } from "../edits.js";
import { cellAt } from "./tool.js";

/**
 * Two clicks: the first cell, then the cell to merge into it; the merged cell stays selected, so
 * further clicks merge more fragments into it (Esc or a click on the background starts afresh).
 * Choosing the tool clears the selection, so a cell selected earlier (say, one just drawn) never
 * takes part by surprise.
 * @returns {import("./tool.js").Tool}
 */
export function createMergeTool() {
  return {
    name: "merge", label: "Merge", key: "m", type: "mode", cursor: "copy",
    help: "Click a cell, then each cell to merge into it (it keeps the first one's id); Esc starts a new pair",
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
