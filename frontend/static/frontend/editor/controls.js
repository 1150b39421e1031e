// The toolbar and display controls and the page-wide commands (shortcuts.js), as changes to the
// store; and what the controls and the status line show of the store. No DOM: the page passes the
// canvas size and writes the values back into its inputs.

import { deleteCell } from "./edits.js";
import { openPlaces } from "./overlay.js";
import { DEFAULT_DISPLAY } from "./store.js";
import { fitView, zoomAt } from "./viewport.js";

/** @typedef {import("./store.js").Display} Display */
/** @typedef {import("./store.js").EditorStore} EditorStore */
/** @typedef {import("./api.js").Place} Place */
/** @typedef {"both" | "outline" | "fill"} Style  how cells are drawn */

/** Display sliders whose value is the setting in percent. */
export const PERCENT_SLIDERS = /** @type {const} */ (["opacity", "brightness", "contrast", "gamma"]);

/** @type {Record<Style, Style>} */
const NEXT_STYLE = { both: "outline", outline: "fill", fill: "both" };

/** @param {Display} d @returns {Style} */
export const styleOf = (d) => (d.showFill && d.showOutline ? "both" : d.showOutline ? "outline" : "fill");

/** @param {string} style @returns {Partial<Display>} */
export const styleDisplay = (style) => ({ showFill: style !== "outline", showOutline: style !== "fill" });

export class EditorControls {
  /**
   * @param {Object} deps
   * @param {EditorStore} deps.store
   * @param {{submit(): unknown}} deps.flow
   * @param {{toggle(show?: boolean): void}} deps.help
   * @param {() => {width: number, height: number}} deps.canvasSize  CSS pixels
   * @param {() => boolean} deps.isGrey  the crop image has no colour channels
   */
  constructor({ store, flow, help, canvasSize, isGrey }) {
    this.store = store;
    this.canvasSize = canvasSize;
    this.isGrey = isGrey;
    const step = () => Math.max(1, Math.round(store.radius * 0.2));
    const opacityBy = (tenths) => Math.min(1, Math.max(0, Math.round(store.display.opacity * 10 + tenths) / 10));
    /** Page-wide commands by name (shortcuts.js GLOBAL_SHORTCUTS), for keys and buttons. @type {Record<string, () => unknown>} */
    this.commands = {
      undo: () => store.undo(),
      redo: () => store.redo(),
      "delete-selected": () => this.deleteSelected(),
      "radius-down": () => store.setRadius(store.radius - step()),
      "radius-up": () => store.setRadius(store.radius + step()),
      fit: () => this.fit(),
      "zoom-in": () => this.zoomCentre(1.25),
      "zoom-out": () => this.zoomCentre(1 / 1.25),
      "toggle-masks": () => store.setDisplay({ masksVisible: !store.display.masksVisible }),
      "cycle-style": () => this.setStyle(NEXT_STYLE[styleOf(store.display)]),
      "opacity-down": () => store.setDisplay({ opacity: opacityBy(-1) }),
      "opacity-up": () => store.setDisplay({ opacity: opacityBy(1) }),
      "channel-1": () => this.toggleChannel(0),
      "channel-2": () => this.toggleChannel(1),
      "channel-3": () => this.toggleChannel(2),
      "reset-display": () => store.setDisplay({ brightness: 0, contrast: 1, gamma: 1, channels: [...DEFAULT_DISPLAY.channels] }),
      submit: () => flow.submit(),
      help: () => help.toggle(),
    };
  }

  deleteSelected() {
    const { store } = this;
    if (!store.selected) store.say("Select a cell first (V, then click it), then press Delete.", "warning");
    else store.commit(deleteCell(store.map, store.index, store.selected));
  }

  fit() {
    const { width, height } = this.canvasSize();
    this.store.setView(fitView(this.store.map.width, this.store.map.height, width, height));
  }

  /** @param {number} factor */
  zoomCentre(factor) {
    const { width, height } = this.canvasSize();
    this.store.setView(zoomAt(this.store.view, factor, width / 2, height / 2));
  }

  /** @param {number} k 0, 1, 2: red, green, blue */
  toggleChannel(k) {
    if (this.isGrey()) {
      this.store.say("This image is grey: it has no colour channels to show or hide.", "info");
      return;
    }
    this.setChannel(k, !this.store.display.channels[k]);
  }

  /** @param {number} k @param {boolean} on */
  setChannel(k, on) {
    const channels = [...this.store.display.channels];
    channels[k] = on;
    this.store.setDisplay({ channels });
  }

  /** @param {string} style */
  setStyle(style) {
    this.store.setDisplay(styleDisplay(style));
  }

  /** A display slider moved. @param {typeof PERCENT_SLIDERS[number]} name @param {string | number} percent */
  setPercent(name, percent) {
    this.store.setDisplay({ [name]: Number(percent) / 100 });
  }

  /** What the display controls show. */
  values() {
    const d = this.store.display;
    const percent = Object.fromEntries(PERCENT_SLIDERS.map((name) => [name, String(Math.round(d[name] * 100))]));
    return { ...percent, style: styleOf(d), masks: d.masksVisible, channels: [...d.channels] };
  }
}

/**
 * The status line: cells, circled places left, selection, hover, edits, time, radius, zoom.
 * @param {EditorStore} store @param {number} seconds on this crop @param {Place[]} places circled on this crop
 */
export function statusLine(store, seconds, places) {
  const { index, selected, hover, radius, view } = store;
  const edits = Object.values(store.editCounts()).reduce((a, b) => a + b, 0);
  const parts = [`${index.count} cells`];
  if (places.length) {
    const open = openPlaces(places, store.map).length;
    parts.push(`${open} circled place${open === 1 ? "" : "s"} to check`);
  }
  if (selected) parts.push(`selected: cell ${selected} (${index.area[selected]} px)`);
  if (hover) parts.push(`under the cursor: cell ${hover}`);
  parts.push(`${edits} edit${edits === 1 ? "" : "s"}${store.isDirty ? " (unsaved)" : ""}`);
  parts.push(`${formatDuration(seconds)} on this crop`);
  if (store.tool === "brush" || store.tool === "eraser") parts.push(`radius ${radius}`);
  parts.push(`zoom ${Math.round(view.scale * 100)}%`);
  return parts.join(" · ");
}

/** @param {number} seconds */
export function formatDuration(seconds) {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
