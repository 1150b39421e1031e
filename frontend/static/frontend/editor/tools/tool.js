// What a tool is. Tools are DOM-free: the page turns pointer events into image coordinates and
// calls these hooks, so tests drive tools with plain points.

/** @typedef {import("../store.js").EditorStore} EditorStore */
/** @typedef {import("../geometry.js").Point} Point */

/**
 * @typedef {Object} ToolContext
 * @property {EditorStore} store
 * @property {boolean} paintOver  Shift is held: lift the overlap rule for this edit
 * @property {number} scale       screen pixels per image pixel, for hit distances
 * @property {number} [clicks]    1 for a click, 2 for the second click of a double click
 * @property {boolean} [alt]      Alt (Option) is held: the tool's second meaning (Assist: redo the cell)
 * @property {import("../assist.js").Assistant} [assist]  asks the model for cells (absent where there is none)
 */

/**
 * @typedef {Object} Tool
 * @property {string} name      registry key; also the kind its edits are counted under
 * @property {string} label
 * @property {string} key       keyboard shortcut (one lower-case key)
 * @property {string} help      one line for the help overlay
 * @property {"mode" | "action"} type  a mode takes pointer input; an action runs once when chosen
 * @property {string} [cursor]  CSS cursor over the canvas
 * @property {(ctx: ToolContext) => void} [activate]  the tool was chosen
 * @property {(ctx: ToolContext) => void} [run]       an action's work
 * @property {(ctx: ToolContext, p: Point) => void} [down]
 * @property {(ctx: ToolContext, p: Point) => void} [move]   pointer moved with the button down
 * @property {(ctx: ToolContext, p: Point) => void} [up]
 * @property {(ctx: ToolContext, p: Point) => void} [hover]  pointer moved with no button down
 * @property {(ctx: ToolContext, key: string) => boolean} [onKey]  a key (shortcuts.keyName) while active; true if it used it
 * @property {(ctx: ToolContext) => void} [cancel]  Escape, or another tool chosen
 */

/** Freehand points closer than this on screen are dropped: smaller paths, same shape. */
export const MIN_STEP_SCREEN_PX = 1.5;

/** @param {ToolContext} ctx @param {Point} p */
export function cellAt(ctx, p) {
  return ctx.store.map.idAt(p.x, p.y);
}
