// The Assist tool: the model draws the cell. A click on a missed cell (or in a yellow ring) adds
// the cell the model finds there; a drag adds every cell it finds in the box that overlaps no
// existing cell; Alt+click on a cell has the model redo it. The request goes out through
// ctx.assist (assist.js) and the edit is made when the answer arrives: one undo step, counted as
// click_add, box_add or redo.

import { binaryRle } from "../codec.js";
import { distance } from "../geometry.js";
import { cellPixels } from "../labelmap.js";
import { addProposedCell, addProposedCells, redoCell } from "../proposal.js";
import { cellAt } from "./tool.js";

/** @typedef {import("./tool.js").ToolContext} ToolContext */
/** @typedef {import("../geometry.js").Point} Point */

/** A press that moves less than this (screen pixels) is a click, not a box. */
export const DRAG_PX = 4;
/** The waiting cue around a click, in screen pixels. */
const CUE_RADIUS_PX = 7;

/** @returns {import("./tool.js").Tool} */
export function createAssistTool() {
  /** @type {Point | null} */ let start = null;
  let dragging = false;

  /** @param {ToolContext} ctx @param {Point} a @param {Point} b */
  const showBox = (ctx, a, b) => ctx.store.setDraft({ type: "path", points: corners(a, b), closed: true });

  return {
    name: "assist", label: "Assist", key: "c", type: "mode", cursor: "crosshair",
    help: "The model draws: click a missed cell (or a yellow ring) to add it; drag a box to add every cell it finds there; Alt+click a cell to have it redrawn (Shift: paint over)",
    down(_ctx, p) {
      start = p;
      dragging = false;
    },
    move(ctx, p) {
      if (!start) return;
      if (!dragging && distance(start, p) * ctx.scale < DRAG_PX) return;
      dragging = true;
      showBox(ctx, start, p);
    },
    up(ctx, p) {
      if (!start) return;
      const from = start, boxed = dragging;
      start = null;
      dragging = false;
      if (boxed) {
        ctx.store.setDraft(null);
        boxAdd(ctx, from, p);
      } else if (ctx.alt) {
        redo(ctx, from);
      } else {
        clickAdd(ctx, from);
      }
    },
    cancel(ctx) {
      start = null;
      if (dragging) ctx.store.setDraft(null);
      dragging = false;
    },
  };
}

/** @param {ToolContext} ctx @param {Point} p */
function clickAdd(ctx, p) {
  const { store, assist, paintOver } = ctx;
  if (!assist) return unavailable(ctx);
  if (!inside(store.map, p)) return;
  const under = cellAt(ctx, p);
  if (under && !paintOver) {
    store.say(`That is cell ${under} already: Alt+click it to have the model redraw it, or Shift+click to add the model's cell over it.`, "warning");
    return;
  }
  // A click in a yellow ring means the place it circles, even off the cell itself.
  const point = (!under && assist.placeAt(p, ctx.scale)) || p;
  assist.ask({ mode: "point", x: point.x, y: point.y }, cue(ctx, point),
    (proposal) => store.commit(addProposedCell(store.map, store.index, proposal, point, { paintOver })));
}

/** @param {ToolContext} ctx @param {Point} a @param {Point} b */
function boxAdd(ctx, a, b) {
  const { store, assist, paintOver } = ctx;
  if (!assist) return unavailable(ctx);
  const { width, height } = store.map;
  const clamp = (v, max) => Math.min(max, Math.max(0, v));
  const box = [clamp(Math.min(a.x, b.x), width), clamp(Math.min(a.y, b.y), height),
    clamp(Math.max(a.x, b.x), width), clamp(Math.max(a.y, b.y), height)];
  if (box[2] - box[0] < 1 || box[3] - box[1] < 1) {
    store.say("Drag a larger box (at least a pixel each way, inside the crop).", "warning");
    return;
  }
  const shape = { type: "path", points: corners({ x: box[0], y: box[1] }, { x: box[2], y: box[3] }), closed: true };
  assist.ask({ mode: "box", box }, /** @type {import("../store.js").Draft} */ (shape),
    (proposal) => store.commit(addProposedCells(store.map, store.index, proposal, { paintOver })));
}

/** @param {ToolContext} ctx @param {Point} p */
function redo(ctx, p) {
  const { store, assist, paintOver } = ctx;
  if (!assist) return unavailable(ctx);
  const id = cellAt(ctx, p);
  if (!id) {
    store.say("Alt+click a cell to have the model redraw it; a plain click here adds the cell the model finds.", "warning");
    return;
  }
  store.select(id);
  const cell = binaryRle(cellPixels(store.map, store.index, id), store.map.width, store.map.height);
  assist.ask({ mode: "redo", x: p.x, y: p.y, cell }, cue(ctx, p),
    (proposal) => store.commit(redoCell(store.map, store.index, id, proposal, p, { paintOver })));
}

/** @param {import("../labelmap.js").LabelMap} map @param {Point} p */
function inside(map, p) {
  return p.x >= 0 && p.y >= 0 && p.x < map.width && p.y < map.height;
}

/** @param {ToolContext} ctx */
function unavailable(ctx) {
  ctx.store.say("The model's help is not available on this page.", "warning");
}

/** @param {ToolContext} ctx @param {Point} p @returns {import("../store.js").Draft} */
function cue(ctx, p) {
  return { type: "circle", center: p, radius: CUE_RADIUS_PX / ctx.scale };
}

/** @param {Point} a @param {Point} b @returns {Point[]} */
function corners(a, b) {
  return [a, { x: b.x, y: a.y }, b, { x: a.x, y: b.y }];
}
