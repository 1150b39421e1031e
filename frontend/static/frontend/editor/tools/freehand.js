// A freehand path being drawn with the button down: shared by lasso (closed) and split (open).

import { distance } from "../geometry.js";
import { MIN_STEP_SCREEN_PX } from "./tool.js";

/** @typedef {import("../geometry.js").Point} Point */
/** @typedef {import("./tool.js").ToolContext} ToolContext */

export class FreehandPath {
  /** @param {boolean} closed how the draft is drawn */
  constructor(closed) {
    this.closed = closed;
    /** @type {Point[] | null} */ this.points = null;
  }

  /** @param {ToolContext} ctx @param {Point} p */
  start(ctx, p) {
    this.points = [p];
    ctx.store.setDraft({ type: "path", points: this.points, closed: this.closed });
  }

  /** @param {ToolContext} ctx @param {Point} p */
  extend(ctx, p) {
    if (!this.points) return;
    if (distance(this.points[this.points.length - 1], p) * ctx.scale < MIN_STEP_SCREEN_PX) return;
    this.points.push(p);
    ctx.store.setDraft({ type: "path", points: this.points, closed: this.closed });
  }

  /** @param {ToolContext} ctx @param {Point} p @returns {Point[] | null} the finished path */
  finish(ctx, p) {
    if (!this.points) return null;
    this.extend(ctx, p);
    const points = this.points;
    this.cancel(ctx);
    return points;
  }

  /** @param {ToolContext} ctx */
  cancel(ctx) {
    if (!this.points) return;
    this.points = null;
    ctx.store.setDraft(null);
  }
}

/** Whether a path is only a click (too short to be a shape or a cut). @param {Point[]} points @param {number} scale */
export function isClick(points, scale) {
  let longest = 0;
  for (const p of points) longest = Math.max(longest, distance(points[0], p));
  return points.length < 3 || longest * scale < 4;
}
