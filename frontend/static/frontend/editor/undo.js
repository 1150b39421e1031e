// Undo/redo history of diffs. It holds no map: the store applies what it hands back.

/** @typedef {import("./diff.js").Diff} Diff */

/** @typedef {Diff & {serial: number}} HistoryEntry */

export class UndoStack {
  /**
   * @param {{maxEntries?: number, maxPixels?: number}} [limits] the oldest entries are dropped
   *   beyond either limit (a whole-crop edit of 2048x2048 is about 4 M pixels = 32 MB of diff)
   */
  constructor({ maxEntries = 500, maxPixels = 40_000_000 } = {}) {
    this.maxEntries = maxEntries;
    this.maxPixels = maxPixels;
    /** @type {HistoryEntry[]} */ this.done = [];
    /** @type {HistoryEntry[]} */ this.undone = [];
    this._pixels = 0;
    this._serial = 0;
    // The state below the oldest kept entry: 0 (as loaded) until old entries are dropped.
    this._baseSerial = 0;
  }

  /** Record an edit just applied; it clears the redo branch. @param {Diff} diff */
  push(diff) {
    const entry = { ...diff, serial: ++this._serial };
    this.done.push(entry);
    this._pixels += diff.indices.length;
    for (const dropped of this.undone) this._pixels -= dropped.indices.length;
    this.undone = [];
    while (this.done.length > 1 && (this.done.length > this.maxEntries || this._pixels > this.maxPixels)) {
      const dropped = /** @type {HistoryEntry} */ (this.done.shift());
      this._pixels -= dropped.indices.length;
      this._baseSerial = dropped.serial;
    }
    return entry;
  }

  /** The edit to take back (apply it backward), moved to the redo side; null when none. */
  takeUndo() {
    const entry = this.done.pop() ?? null;
    if (entry) this.undone.push(entry);
    return entry;
  }

  /** The edit to apply again (forward), moved back to the undo side; null when none. */
  takeRedo() {
    const entry = this.undone.pop() ?? null;
    if (entry) this.done.push(entry);
    return entry;
  }

  get canUndo() { return this.done.length > 0; }
  get canRedo() { return this.undone.length > 0; }

  /** Identifies the current state: equal serials mean the same edits are in effect. */
  get stateSerial() {
    return this.done.length ? this.done[this.done.length - 1].serial : this._baseSerial;
  }

  /** Pixels held by all entries (memory is about 8 bytes each). */
  get pixels() { return this._pixels; }

  /** Forget all history; the current state becomes the base. */
  clear() {
    this._baseSerial = this.stateSerial;
    this.done = [];
    this.undone = [];
    this._pixels = 0;
  }
}
