// Editor state: the label map and its cell index, undo history, selection, tool, view and display
// settings, the in-progress drawing ("draft") and edit counts. No DOM: the renderer and the page
// subscribe to the events it emits.

import { CellIndex, LabelMap } from "./labelmap.js";
import { applyDiff, DiffAccumulator, isEmptyDiff } from "./diff.js";
import { UndoStack } from "./undo.js";

/** @typedef {import("./diff.js").Diff} Diff */
/** @typedef {import("./edits.js").EditResult} EditResult */
/** @typedef {import("./labelmap.js").Rect} Rect */
/** @typedef {import("./geometry.js").Point} Point */

/** @typedef {{scale: number, offsetX: number, offsetY: number}} View  screen = image * scale + offset */

/**
 * How the crop and its cells are shown.
 * @typedef {Object} Display
 * @property {number} brightness  added to intensities, -1..1
 * @property {number} contrast    multiplies around mid-grey, 0..4
 * @property {number} gamma       0.1..5; <1 brightens dark pixels
 * @property {boolean[]} channels which of R, G, B to show
 * @property {boolean} masksVisible
 * @property {boolean} showFill
 * @property {boolean} showOutline
 * @property {number} opacity     of the fills, 0..1
 */

/**
 * What a tool is drawing right now, for the renderer.
 * @typedef {{type: "path", points: Point[], closed?: boolean, cursor?: Point} |
 *           {type: "circle", center: Point, radius: number} | null} Draft
 */

/**
 * @typedef {{type: "labels", rect: Rect | null} | {type: "waiting"} |
 *   {type: "proposal", method: "flows" | "classical", modelVersion: number | null} | {type: "loaded"} |
 *   {type: "selection", previous: number, current: number} | {type: "hover", previous: number, current: number} |
 *   {type: "tool", tool: string} | {type: "view"} | {type: "display", what: "image" | "overlay"} | {type: "draft"} |
 *   {type: "history"} | {type: "message", text: string, level: "info" | "warning" | "error"} |
 *   {type: "command", name: string}} StoreEvent
 */

/**
 * The map being edited with what belongs to it, kept aside while another map is shown.
 * @typedef {{map: LabelMap, index: CellIndex, history: UndoStack, counts: Map<string, number>, savedSerial: number}} EditingState
 */

/** @type {Display} */
export const DEFAULT_DISPLAY = Object.freeze({
  brightness: 0, contrast: 1, gamma: 1, channels: [true, true, true],
  masksVisible: true, showFill: true, showOutline: true, opacity: 0.35,
});

export const MIN_RADIUS = 1;
export const MAX_RADIUS = 100;

export class EditorStore {
  /** @param {{map?: LabelMap, tool?: string, radius?: number}} [options] */
  constructor({ map = new LabelMap(0, 0), tool = "select", radius = 6 } = {}) {
    /** @type {Set<(event: StoreEvent) => void>} */
    this._listeners = new Set();
    this.tool = tool;
    this.radius = radius;
    /** @type {View} */ this.view = { scale: 1, offsetX: 0, offsetY: 0 };
    /** @type {Display} */ this.display = { ...DEFAULT_DISPLAY, channels: [...DEFAULT_DISPLAY.channels] };
    /** @type {Draft[]} what the model is being asked about (assist.js owns it across crops) */ this.waiting = [];
    /** Why the map shown cannot be edited (showAside), or "" when it can. */ this.readOnly = "";
    /** @type {EditingState | null} the map being edited, kept while another is shown */ this._aside = null;
    this._reset(map);
  }

  /** @param {(event: StoreEvent) => void} listener @returns {() => void} unsubscribe */
  subscribe(listener) {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  /** @param {StoreEvent} event */
  emit(event) {
    for (const listener of this._listeners) listener(event);
  }

  /** Start on a new crop's label map: history, selection and counts start afresh. @param {LabelMap} map */
  load(map) {
    this._aside = null;
    this.readOnly = "";
    this._reset(map);
    this.emit({ type: "loaded" });
    this.emit({ type: "history" });
  }

  /**
   * Show another map read-only (e.g. the model's prediction beside a submitted mask), keeping the
   * map being edited, its history and counts aside until bringBack.
   * @param {LabelMap} map @param {string} reason what an attempted edit is told
   */
  showAside(map, reason) {
    this.finishStroke();
    this._aside ??= { dirty: this.isDirty, ...this._editingState() };
    this._reset(map);
    this.readOnly = reason;
    this.emit({ type: "loaded" });
    this.emit({ type: "history" });
  }

  /** Back to the map being edited, as it was left. */
  bringBack() {
    const aside = this._aside;
    if (!aside) return;
    this._aside = null;
    this.readOnly = "";
    Object.assign(this, { map: aside.map, index: aside.index, history: aside.history, _counts: aside.counts,
      _savedSerial: aside.savedSerial, selected: 0, hover: 0, draft: null });
    this.emit({ type: "loaded" });
    this.emit({ type: "history" });
  }

  // ---- edits --------------------------------------------------------------------------------

  /**
   * Apply an edit and record it for undo. A result without a diff only shows its message.
   * @param {EditResult} result @returns {boolean} whether the map changed
   */
  commit(result) {
    this.finishStroke();
    if (this._refuseReadOnly()) return false;
    if (result.message) this.say(result.message, result.diff ? "info" : "warning");
    if (!result.diff || isEmptyDiff(result.diff)) return false;
    this._apply(result.diff, false);
    this.history.push(result.diff);
    this._count(result.diff.kind, 1);
    if (result.select !== undefined) this.select(result.select);
    this.emit({ type: "history" });
    return true;
  }

  /** Apply part of a stroke now (brush, eraser) without a history entry yet. @param {Diff} diff */
  strokeStep(diff) {
    if (isEmptyDiff(diff) || this.readOnly) return;
    this._stroke ??= new DiffAccumulator();
    this._stroke.add(diff);
    this._apply(diff, false);
  }

  /** Close the stroke in progress as one undoable edit of `kind` (what its diffs say when omitted). */
  finishStroke(kind) {
    const stroke = this._stroke;
    const strokeKind = this._strokeKind;
    this._stroke = null;
    this._strokeKind = undefined;
    if (!stroke || stroke.isEmpty) return;
    const diff = stroke.toDiff(kind ?? strokeKind ?? "brush", this.map.width);
    if (isEmptyDiff(diff)) return;
    this.history.push(diff);
    this._count(diff.kind, 1);
    this._dropStaleSelection();
    this.emit({ type: "history" });
  }

  /** Start a stroke of `kind` (the diffs that follow are gathered under it). @param {string} kind */
  beginStroke(kind) {
    this.finishStroke();
    this._refuseReadOnly();
    this._strokeKind = kind;
  }

  /** Take back the stroke in progress. */
  cancelStroke() {
    const stroke = this._stroke;
    this._stroke = null;
    this._strokeKind = undefined;
    if (stroke && !stroke.isEmpty) this._apply(stroke.toDiff("cancel", this.map.width), true);
    this._dropStaleSelection();
  }

  /** @returns {boolean} whether anything was undone */
  undo() {
    this.finishStroke();
    const entry = this.history.takeUndo();
    if (!entry) return false;
    this._apply(entry, true);
    this._count(entry.kind, -1);
    this._dropStaleSelection();
    this.emit({ type: "history" });
    return true;
  }

  /** @returns {boolean} whether anything was redone */
  redo() {
    this.finishStroke();
    const entry = this.history.takeRedo();
    if (!entry) return false;
    this._apply(entry, false);
    this._count(entry.kind, 1);
    this._dropStaleSelection();
    this.emit({ type: "history" });
    return true;
  }

  /** Unsaved edits: the map differs from what was loaded or last saved. */
  get isDirty() {
    if (this._aside) return this._aside.dirty;
    return this.finishedSerial() !== this._savedSerial || Boolean(this._stroke && !this._stroke.isEmpty);
  }

  /** Whether any edit is in effect since the crop was loaded (accept-all needs none). */
  get hasEdits() {
    return this.finishedSerial() !== 0 || Boolean(this._stroke && !this._stroke.isEmpty);
  }

  finishedSerial() {
    return this.history.stateSerial;
  }

  /** The current state is what the server has. */
  markSaved() {
    this.finishStroke();
    this._savedSerial = this.history.stateSerial;
    this.emit({ type: "history" });
  }

  /** Edits in effect, by kind: undo takes one back, redo counts it again. @returns {Record<string, number>} */
  editCounts() {
    return Object.fromEntries([...this._counts].filter(([, n]) => n > 0));
  }

  // ---- selection, tool, view ------------------------------------------------------------------

  /** @param {number} id 0 clears */
  select(id) {
    const current = this.index.has(id) ? id : 0;
    if (current === this.selected) return;
    const previous = this.selected;
    this.selected = current;
    this.emit({ type: "selection", previous, current });
  }

  /** @param {number} id the cell under the pointer, 0 for none */
  setHover(id) {
    if (id === this.hover) return;
    const previous = this.hover;
    this.hover = id;
    this.emit({ type: "hover", previous, current: id });
  }

  /** @param {string} name */
  setTool(name) {
    if (name === this.tool) return;
    this.cancelStroke();
    this.setDraft(null);
    this.tool = name;
    this.emit({ type: "tool", tool: name });
  }

  /** @param {number} radius brush and eraser radius in image pixels */
  setRadius(radius) {
    this.radius = Math.min(MAX_RADIUS, Math.max(MIN_RADIUS, Math.round(radius)));
    this.emit({ type: "tool", tool: this.tool });
  }

  /** @param {View} view */
  setView(view) {
    this.view = view;
    this.emit({ type: "view" });
  }

  /** @param {Partial<Display>} patch */
  setDisplay(patch) {
    const imageKeys = ["brightness", "contrast", "gamma", "channels"];
    this.display = { ...this.display, ...patch };
    const what = Object.keys(patch).some((k) => imageKeys.includes(k)) ? "image" : "overlay";
    this.emit({ type: "display", what });
  }

  /** @param {Draft} draft */
  setDraft(draft) {
    this.draft = draft;
    this.emit({ type: "draft" });
  }

  /** What the model is being asked about (assist.js), drawn as a cue until it answers. @param {Draft[]} shapes */
  setWaiting(shapes) {
    if (!shapes.length && !this.waiting.length) return;
    this.waiting = shapes;
    this.emit({ type: "waiting" });
  }

  /** Tell the labeller something. @param {string} text @param {"info" | "warning" | "error"} [level] */
  say(text, level = "info") {
    this.emit({ type: "message", text, level });
  }

  /** Ask the page to do something outside the store (submit, skip). @param {string} name */
  command(name) {
    this.emit({ type: "command", name });
  }

  // ---- internals ------------------------------------------------------------------------------

  /** @returns {EditingState} */
  _editingState() {
    return { map: this.map, index: this.index, history: this.history, counts: this._counts, savedSerial: this._savedSerial };
  }

  /** Say why the map shown cannot be edited. @returns {boolean} whether it cannot */
  _refuseReadOnly() {
    if (this.readOnly) this.say(this.readOnly, "warning");
    return Boolean(this.readOnly);
  }

  /** @param {LabelMap} map */
  _reset(map) {
    this.map = map;
    this.index = CellIndex.build(map);
    this.history = new UndoStack();
    this.selected = 0;
    this.hover = 0;
    /** @type {Draft} */ this.draft = null;
    /** @type {Map<string, number>} */ this._counts = new Map();
    this._savedSerial = 0;
    /** @type {DiffAccumulator | null} */ this._stroke = null;
    /** @type {string | undefined} */ this._strokeKind = undefined;
  }

  /** @param {Diff} diff @param {boolean} backward */
  _apply(diff, backward) {
    applyDiff(this.map, diff, backward);
    if (backward) this.index.update(diff.indices, diff.after, diff.before);
    else this.index.update(diff.indices, diff.before, diff.after);
    this.emit({ type: "labels", rect: diff.rect });
  }

  /** @param {string} kind @param {number} by */
  _count(kind, by) {
    this._counts.set(kind, (this._counts.get(kind) ?? 0) + by);
  }

  _dropStaleSelection() {
    if (this.selected && !this.index.has(this.selected)) this.select(0);
  }
}
