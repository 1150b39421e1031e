import { drawCell } from "../edits.js";
import { distance, shapePixels } from "../geometry.js";

/** A click this close (screen pixels) to the first vertex closes the polygon. */
export const CLOSE_DISTANCE_PX = 8;

/** @returns {import("./tool.js").Tool} */
export function createPolygonTool() {
  /** @type {import("../geometry.js").Point[]} */
  let points = [];
  /** @type {import("../geometry.js").Point | undefined} */
  let cursor;

  const show = (ctx) => ctx.store.setDraft(points.length ? { type: "path", points, closed: false, cursor } : null);
  const reset = (ctx) => { points = []; cursor = undefined; show(ctx); };
  const close = (ctx) => {
    const { store } = ctx;
    if (points.length < 3) {
      store.say("A polygon needs at least three corners.", "warning");
      return;
    }
    const pixels = shapePixels(points, store.map.width, store.map.height);
    reset(ctx);
    store.commit(drawCell(store.map, store.index, pixels, "polygon", { paintOver: ctx.paintOver }));
  };

  return {
    name: "polygon", label: "Polygon", key: "p", type: "mode", cursor: "crosshair",
    help: "Click corners; close on the first corner, double-click or Enter (Shift: paint over); Backspace drops a corner",
    down(ctx, p) {
      const nearFirst = points.length >= 3 && distance(p, points[0]) * ctx.scale <= CLOSE_DISTANCE_PX;
      if (nearFirst || (ctx.clicks === 2 && points.length >= 3)) {
        close(ctx);
        return;
      }
      points.push(p);
      show(ctx);
    },
    hover(ctx, p) {
      cursor = p;
      if (points.length) show(ctx);
    },
    onKey(ctx, key) {
      if (!points.length) return false;
      if (key === "enter" || key === "shift+enter") {
        close(ctx);
        return true;
      }
      if (key === "backspace") {
        points.pop();
        show(ctx);
        return true;
      }
      return false;
    },
    cancel: reset,
  };
}
