// Pointer and keys -> the active tool, the view and the commands. No DOM: the page hands in
// event-like objects with the pointer in canvas CSS pixels, and does what the return values say
// (capture the pointer, prevent the browser's default).

import { keyName } from "./shortcuts.js";
import { panBy, screenToImage, wheelFactor, zoomAt } from "./viewport.js";

/** @typedef {import("./store.js").EditorStore} EditorStore */
/** @typedef {import("./tools/tool.js").Tool} Tool */
/** @typedef {import("./tools/tool.js").ToolContext} ToolContext */
/** @typedef {import("./geometry.js").Point} Point */

/**
 * A pointer event, in canvas CSS pixels.
 * @typedef {Object} PointerInput
 * @property {number} x
 * @property {number} y
 * @property {number} [button]    0 main, 1 middle, 2 right
 * @property {boolean} [shiftKey]
 * @property {boolean} [altKey]
 * @property {number} [detail]    the click count
 * @property {() => Point[]} [coalesced]  the moves the browser merged into this one, in canvas CSS pixels
 */

/**
 * A key event (a KeyboardEvent will do); modifiers as shortcuts.keyName reads them.
 * @typedef {{key: string, ctrlKey?: boolean, metaKey?: boolean, shiftKey?: boolean, altKey?: boolean, detail?: number}} KeyInput
 */

/** Keys that close the help overlay while it is open. */
const CLOSE_HELP = ["escape", "?", "f1"];

export class EditorInput {
  /**
   * @param {Object} deps
   * @param {EditorStore} deps.store
   * @param {Map<string, Tool>} deps.tools
   * @param {Map<string, {tool?: string, command?: string}>} deps.keymap  shortcuts.buildKeymap
   * @param {{poke(): void}} deps.timer  told of every sign of work
   * @param {{busy: boolean, crop: unknown}} deps.flow  no drawing while a request is under way or no crop is open
   * @param {Record<string, (event?: KeyInput) => unknown>} deps.commands  page-wide commands by name
   * @param {{isOpen(): boolean, toggle(show?: boolean): void}} deps.help
   * @param {import("./assist.js").Assistant} [deps.assist]  the model's help for the Assist tool
   */
  constructor({ store, tools, keymap, timer, flow, commands, help, assist }) {
    Object.assign(this, { store, tools, keymap, timer, flow, help, assist });
    this.commands = { ...commands, escape: (/** @type {KeyInput} */ event) => this.escape(event) };
    /** the main button went down on the canvas and the active tool has the pointer */
    this.drawing = false;
    this.spaceHeld = false;
    /** @type {Point | null} where the last pan step ended, while panning */
    this.panFrom = null;
  }

  get activeTool() {
    return /** @type {Tool} */ (this.tools.get(this.store.tool));
  }

  /** @param {{shiftKey?: boolean, altKey?: boolean, detail?: number} | undefined} event @returns {ToolContext} */
  context(event) {
    const clicks = event?.detail && event.detail > 0 ? event.detail : 1;
    const { store, assist } = this;
    return { store, paintOver: Boolean(event?.shiftKey), alt: Boolean(event?.altKey), scale: store.view.scale, clicks, assist };
  }

  /** A toolbar button or a tool's key. @param {string} name @param {{shiftKey?: boolean, detail?: number}} [event] */
  chooseTool(name, event) {
    const tool = this.tools.get(name);
    if (!tool || this.flow.busy) return;
    const ctx = this.context(event);
    if (tool.type === "action") {
      tool.run?.(ctx);
      return;
    }
    if (name !== this.store.tool) this.activeTool.cancel?.(ctx);
    this.store.setTool(name);
    tool.activate?.(ctx);
  }

  /** Cancel the drawing in progress; with none, clear the selection. @param {KeyInput} [event] */
  escape(event) {
    if (this.store.draft?.type === "path" || this.drawing) this.activeTool.cancel?.(this.context(event));
    else this.store.select(0);
  }

  /** @param {PointerInput} event @returns {"pan" | "draw" | null} what took the pointer (the page captures it) */
  pointerDown(event) {
    this.timer.poke();
    if (event.button === 1 || event.button === 2 || this.spaceHeld) {
      this.panFrom = { x: event.x, y: event.y };
      return "pan";
    }
    if (event.button !== 0 || this.flow.busy || !this.flow.crop) return null;
    if (this.store.readOnly) {
      this.store.say(this.store.readOnly, "warning");
      return null;
    }
    this.drawing = true;
    this.activeTool.down?.(this.context(event), this._imagePoint(event));
    return "draw";
  }

  /** @param {PointerInput} event */
  pointerMove(event) {
    const { store } = this;
    if (this.panFrom) {
      store.setView(panBy(store.view, event.x - this.panFrom.x, event.y - this.panFrom.y));
      this.panFrom = { x: event.x, y: event.y };
      return;
    }
    this.timer.poke(); // looking closely is work too
    const p = this._imagePoint(event);
    store.setHover(store.map.idAt(p.x, p.y));
    const tool = this.activeTool;
    if (this.drawing) {
      const moves = event.coalesced?.() ?? [];
      for (const m of moves.length ? moves : [event]) tool.move?.(this.context(event), this._imagePoint(m));
    } else {
      tool.hover?.(this.context(event), p);
    }
  }

  /** The button was released, or the browser took the pointer away. @param {PointerInput} event */
  pointerUp(event) {
    if (this.panFrom) {
      this.panFrom = null;
      return;
    }
    if (!this.drawing) return;
    this.drawing = false;
    this.activeTool.up?.(this.context(event), this._imagePoint(event));
  }

  pointerLeave() {
    this.store.setHover(0);
    if (this.store.draft?.type === "circle") this.store.setDraft(null);
  }

  /** Zoom at the pointer. @param {PointerInput & {deltaY: number, deltaMode?: number}} event */
  wheel(event) {
    this.timer.poke();
    this.store.setView(zoomAt(this.store.view, wheelFactor(event.deltaY, event.deltaMode), event.x, event.y));
  }

  /** @param {KeyInput} event @returns {boolean} whether the key was used (the page stops its default) */
  keyDown(event) {
    this.timer.poke();
    const name = keyName(event);
    if (name === "space") {
      this.spaceHeld = true;
      return true;
    }
    if (this.help.isOpen() && CLOSE_HELP.includes(name)) {
      this.help.toggle(false);
      return true;
    }
    if (this.flow.busy && name !== "?") return false;
    if (this.activeTool.onKey?.(this.context(event), name)) return true;
    const action = this.keymap.get(name);
    if (!action) return false;
    if (action.tool) this.chooseTool(action.tool, event);
    else this.commands[/** @type {string} */ (action.command)]?.(event);
    return true;
  }

  /** @param {KeyInput} event */
  keyUp(event) {
    if (event.key === " ") this.spaceHeld = false;
  }

  /** @param {Point} p canvas CSS pixels */
  _imagePoint(p) {
    return screenToImage(this.store.view, p.x, p.y);
  }
}
