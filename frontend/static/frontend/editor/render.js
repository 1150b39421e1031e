// Draws the crop and its cells. Two canvases at the crop's own resolution, the display-adjusted
// image and the cell overlay, are stacked in the stage and placed with a CSS transform (the view),
// so panning and zooming are left to the browser's compositor and cost no drawing at all. An edit
// recomputes only the overlay pixels inside its changed rectangle (plus one pixel for the outlines
// next to it) and writes just that rectangle. A third canvas, screen-sized and on top, shows what
// is being drawn (lasso path, polygon, brush cursor), the rings around places where the model
// may have missed a cell and the cue where the model is working (Assist), and takes the pointer
// events.

import { growRect, unionRect } from "./labelmap.js";
import { adjustImage, intensityLut, isGrey, makePalette, openPlaces, paintOverlay, placeRingRadius } from "./overlay.js";

/** @typedef {import("./store.js").EditorStore} EditorStore */
/** @typedef {import("./store.js").StoreEvent} StoreEvent */
/** @typedef {import("./labelmap.js").Rect} Rect */
/** @typedef {import("./api.js").Place} Place */

const LAYER_STYLE = "position:absolute;left:0;top:0;transform-origin:0 0;pointer-events:none;";
const PLACE_COLOR = "#ffd400";
/** The cue around a click or box the model is working on. */
const WAITING_COLOR = "#22d3ee";

export class CanvasRenderer {
  /**
   * @param {HTMLCanvasElement} canvas the screen-sized top canvas, inside a positioned stage element
   * @param {EditorStore} store
   */
  constructor(canvas, store) {
    this.canvas = canvas;
    this.store = store;
    this.ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
    this.palette = makePalette();
    this.imageLayer = document.createElement("canvas");
    this.overlayLayer = document.createElement("canvas");
    for (const layer of [this.imageLayer, this.overlayLayer]) {
      layer.style.cssText = LAYER_STYLE;
      layer.width = layer.height = 0;
      canvas.before(layer);
    }
    this.imageContext = /** @type {CanvasRenderingContext2D} */ (this.imageLayer.getContext("2d"));
    this.overlayContext = /** @type {CanvasRenderingContext2D} */ (this.overlayLayer.getContext("2d"));
    /** @type {ImageData | null} original pixels of the crop image */ this.source = null;
    /** @type {ImageData | null} */ this.overlay = null;
    /** @type {Uint32Array} */ this.overlayWords = new Uint32Array(0);
    this.grey = true;
    /** @type {Set<number>} cells to mark, e.g. the ones the model is least sure of */
    this.flagged = new Set();
    /** @type {Place[]} places to circle, where the model may have missed a cell (until a cell covers one) */
    this.places = [];
    this._frame = 0;
    this._pending = { image: false, overlay: false };
    /** Milliseconds of the last overlay update (pixels + upload) and of the last frame's work. */
    this.stats = { overlayMs: 0, composeMs: 0, overlayPixels: 0 };
    this._unsubscribe = store.subscribe((event) => this._onEvent(event));
    this._resizeObserver = new ResizeObserver(() => this.resize());
    this._resizeObserver.observe(canvas);
  }

  /** Use a loaded image as the crop (its size must be the label map's). @param {CanvasImageSource} image */
  setImage(image, width, height) {
    const scratch = document.createElement("canvas");
    scratch.width = width;
    scratch.height = height;
    const sctx = /** @type {CanvasRenderingContext2D} */ (scratch.getContext("2d", { willReadFrequently: true }));
    sctx.drawImage(image, 0, 0, width, height);
    this.source = sctx.getImageData(0, 0, width, height);
    this.grey = isGrey(this.source.data);
    this.imageLayer.width = width;
    this.imageLayer.height = height;
    this._redrawImage();
  }

  /** @param {Iterable<number>} ids */
  setFlagged(ids) {
    this.flagged = new Set(ids);
    this._redrawOverlay(null);
  }

  /** Match the top canvas's backing store to its on-screen size and the device pixel ratio. */
  resize() {
    const ratio = globalThis.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(this.canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(this.canvas.clientHeight * ratio));
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    this.draw();
  }

  /** Place the layers and draw the draft now (tests and the benchmark); normally frames are scheduled. */
  draw() {
    const started = performance.now();
    this._frame = 0;
    if (this._pending.image) this._redrawImage();
    if (this._pending.overlay) this._redrawOverlay(null);
    const { scale, offsetX, offsetY } = this.store.view;
    const transform = `translate(${offsetX}px, ${offsetY}px) scale(${scale})`;
    // Crisp pixels when zoomed in; smooth when the crop is shrunk to fit.
    const rendering = scale >= 1 ? "pixelated" : "auto";
    for (const layer of [this.imageLayer, this.overlayLayer]) {
      if (layer.style.transform !== transform) layer.style.transform = transform;
      if (layer.style.imageRendering !== rendering) layer.style.imageRendering = rendering;
    }
    this.overlayLayer.style.visibility = this.store.display.masksVisible ? "visible" : "hidden";
    const ratio = globalThis.devicePixelRatio || 1;
    this.ctx.setTransform(1, 0, 0, 1, 0, 0);
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    if (this.store.display.masksVisible) this._drawPlaces();
    this._drawWaiting();
    this._drawDraft();
    this.stats.composeMs = performance.now() - started;
  }

  destroy() {
    this._unsubscribe();
    this._resizeObserver.disconnect();
    if (this._frame) cancelAnimationFrame(this._frame);
    this.imageLayer.remove();
    this.overlayLayer.remove();
  }

  // ---- internals --------------------------------------------------------------------------------

  /** @param {StoreEvent} event */
  _onEvent(event) {
    const { store } = this;
    switch (event.type) {
      case "loaded":
        this._resetOverlay();
        break;
      case "labels":
        if (event.rect) this._redrawOverlay(growRect(event.rect, 1, store.map.width, store.map.height));
        if (this.places.length) this._schedule(); // a cell may now cover a circled place
        break;
      case "selection":
      case "hover":
        this._redrawOverlay(unionRect(this._cellRect(event.previous), this._cellRect(event.current)), false);
        break;
      case "display":
        // Sliders send many events a frame: redo the whole layer once, in the next frame.
        if (event.what === "image") this._pending.image = true;
        else this._pending.overlay = true;
        this._schedule();
        break;
      case "view":
      case "draft":
      case "waiting":
        this._schedule();
        break;
      default:
        return;
    }
  }

  _schedule() {
    if (!this._frame) this._frame = requestAnimationFrame(() => this.draw());
  }

  _resetOverlay() {
    const { width, height } = this.store.map;
    this.overlayLayer.width = width;
    this.overlayLayer.height = height;
    this.overlay = width && height ? new ImageData(width, height) : null;
    this.overlayWords = this.overlay ? new Uint32Array(this.overlay.data.buffer) : new Uint32Array(0);
    this._redrawOverlay(null);
  }

  /**
   * Recompute and write the overlay inside `rect` (everything when null).
   * @param {Rect | null} rect @param {boolean} [timed] record in stats (edits, not hover)
   */
  _redrawOverlay(rect, timed = true) {
    if (!rect) this._pending.overlay = false;
    if (!this.overlay) return;
    const started = performance.now();
    const { map, display, selected, hover } = this.store;
    const area = rect ?? map.bounds;
    if (area.x1 <= area.x0 || area.y1 <= area.y0) return;
    const style = { ...display, selected, hover, flagged: this.flagged };
    paintOverlay(this.overlayWords, map, area, style, this.palette);
    this.overlayContext.putImageData(this.overlay, 0, 0, area.x0, area.y0, area.x1 - area.x0, area.y1 - area.y0);
    if (timed) {
      this.stats.overlayMs = performance.now() - started;
      this.stats.overlayPixels = (area.x1 - area.x0) * (area.y1 - area.y0);
    }
  }

  _redrawImage() {
    this._pending.image = false;
    if (!this.source) return;
    const { display } = this.store;
    const adjusted = new ImageData(this.source.width, this.source.height);
    const channels = this.grey ? [true, true, true] : display.channels;
    adjustImage(this.source.data, adjusted.data, intensityLut(display), channels);
    this.imageContext.putImageData(adjusted, 0, 0);
  }

  /** @param {number} id @returns {Rect | null} */
  _cellRect(id) {
    return id ? this.store.index.box(id) : null;
  }

  /** A dashed yellow ring around each open place where the model may have missed a cell, in screen pixels. */
  _drawPlaces() {
    const { ctx } = this;
    const { view, map } = this.store;
    const places = openPlaces(this.places, map);
    if (!places.length) return;
    ctx.save();
    ctx.setLineDash([5, 4]);
    for (const place of places) {
      const x = place.x * view.scale + view.offsetX;
      const y = place.y * view.scale + view.offsetY;
      ctx.beginPath();
      ctx.arc(x, y, placeRingRadius(place, view.scale), 0, 2 * Math.PI);
      ctx.lineWidth = 3.5;
      ctx.strokeStyle = "rgba(0, 0, 0, 0.6)";
      ctx.stroke();
      ctx.lineWidth = 2;
      ctx.strokeStyle = PLACE_COLOR;
      ctx.stroke();
    }
    ctx.restore();
  }

  /** The shape being drawn and the brush cursor, in screen pixels. */
  _drawDraft() {
    const { draft, view } = this.store;
    if (!draft) return;
    const { ctx } = this;
    this._trace(draft);
    ctx.lineWidth = 3;
    ctx.strokeStyle = "rgba(0, 0, 0, 0.7)";
    ctx.stroke();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#fff";
    ctx.stroke();
    if (draft.type === "path" && !draft.closed && draft.cursor && draft.points.length >= 3) {
      const p = draft.points[0];
      ctx.beginPath();
      ctx.arc(p.x * view.scale + view.offsetX, p.y * view.scale + view.offsetY, 6, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  /** The busy cue: what the model is being asked about, dashed, until it answers. */
  _drawWaiting() {
    const { ctx } = this;
    ctx.save();
    ctx.setLineDash([3, 3]);
    for (const shape of this.store.waiting) {
      this._trace(shape);
      ctx.lineWidth = 3;
      ctx.strokeStyle = "rgba(0, 0, 0, 0.6)";
      ctx.stroke();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = WAITING_COLOR;
      ctx.stroke();
    }
    ctx.restore();
  }

  /** Trace a draft-like shape as the current path, in screen pixels. @param {NonNullable<import("./store.js").Draft>} shape */
  _trace(shape) {
    const { ctx } = this;
    const { view } = this.store;
    const toScreen = (p) => [p.x * view.scale + view.offsetX, p.y * view.scale + view.offsetY];
    ctx.beginPath();
    if (shape.type === "circle") {
      const [x, y] = toScreen(shape.center);
      ctx.arc(x, y, Math.max(1, shape.radius * view.scale), 0, 2 * Math.PI);
    } else {
      shape.points.forEach((p, k) => (k ? ctx.lineTo(...toScreen(p)) : ctx.moveTo(...toScreen(p))));
      if (shape.cursor) ctx.lineTo(...toScreen(shape.cursor));
      if (shape.closed) ctx.closePath();
    }
  }
}
