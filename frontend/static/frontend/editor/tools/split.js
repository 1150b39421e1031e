import { splitCell } from "../edits.js";
import { createFreehandTool } from "./freehand.js";

/** @returns {import("./tool.js").Tool} */
export function createSplitTool() {
  return createFreehandTool({
    name: "split", label: "Split", key: "s", closed: false,
    help: "Drag a line across a cell, from outside to outside; each side becomes its own cell",
    edit: ({ store }, points) => splitCell(store.map, store.index, points, store.selected),
  });
}
