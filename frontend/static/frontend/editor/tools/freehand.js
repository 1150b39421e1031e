// Freehand tools: a path drawn with the button down becomes one edit when the button is released;
// a click (no drag) selects the cell under it instead. Lasso (a closed path) and split (an open one)
// are both made here and differ only in the edit.

import { distance } from "../geometry.js";
import { cellAt, MIN_STEP_SCREEN_PX } from "./tool.js";

/** @typedef {import("../geometry.js").Point} Point */
/** @typedef {import("../edits.js").EditResult} EditResult */
/** @typedef {import("./tool.js").Tool} Tool */
/** @typedef {import("./tool.js").ToolContext} ToolContext */

/**
 * @typedef {Object} FreehandSpec
 * @property {string} name
 * @property {string} label
 * @property {string} key
 * @property {string} help
 * @property {boolean} closed  how the path in progress is drawn
 * @property {(ctx: ToolContext, points: Point[]) => EditResult} edit  the edit a finished path makes
 */

/** @param {FreehandSpec} spec @returns {Tool} */
export function createFreehandTool({ closed, edit, ...about }) {
  /** @type {Point[] | null} */
  let points = null;
  /** @param {ToolContext} ctx */
  const show = (ctx) => ctx.store.setDraft(points && { type: "path", points, closed });
  /** @param {ToolContext} ctx @param {Point} p */
  const extend = (ctx, p) => {
    if (!points) return;
    if (distance(points[points.length - 1], p) * ctx.scale < MIN_STEP_SCREEN_PX) return;
    points.push(p);
    show(ctx);
  };
  /** @param {ToolContext} ctx */
  const cancel = (ctx) => {
    if (!points) return;
    points = null;
    show(ctx);
  };

  return {
    ...about, type: "mode", cursor: "crosshair",
    down(ctx, p) {
      points = [p];
      show(ctx);
    },
    move: extend,
    up(ctx, p) {
      if (!points) return;
      extend(ctx, p);
      const path = points;
      cancel(ctx);
      if (isClick(path, ctx.scale)) ctx.store.select(cellAt(ctx, path[0]));
      else ctx.store.commit(edit(ctx, path));
    },
    cancel,
  };
}

/** Whether a path is only a click (too short to be a shape or a cut). @param {Point[]} points @param {number} scale */
export function isClick(points, scale) {
  let longest = 0;
  for (const p of points) longest = Math.max(longest, distance(points[0], p));
  return points.length < 3 || longest * scale < 4;
}
