// Time spent on a crop: counts while the page is visible and the labeller has used the mouse or
// keyboard in the last IDLE_AFTER_MS, so a crop left open over lunch does not count as work. Pure:
// the clock is passed in.

export const IDLE_AFTER_MS = 120_000;

export class ActiveTimer {
  /** @param {() => number} now milliseconds @param {number} [idleAfterMs] */
  constructor(now, idleAfterMs = IDLE_AFTER_MS) {
    this.now = now;
    this.idleAfterMs = idleAfterMs;
    this.restart();
  }

  /** Start counting from zero (a new crop opened). */
  restart() {
    this._total = 0;
    this._lastActivity = this.now();
    this._visible = true;
  }

  /** The labeller did something. */
  poke() {
    const t = this.now();
    this._total += this._activeSpan(t);
    this._lastActivity = t;
  }

  /** The page was hidden or shown again. @param {boolean} visible */
  setVisible(visible) {
    const t = this.now();
    this._total += this._activeSpan(t);
    this._visible = visible;
    this._lastActivity = t;
  }

  /** Seconds of work so far. */
  seconds() {
    return (this._total + this._activeSpan(this.now())) / 1000;
  }

  /** Active time since the last event: up to the idle limit, none while hidden. @param {number} t */
  _activeSpan(t) {
    if (!this._visible) return 0;
    return Math.min(t - this._lastActivity, this.idleAfterMs);
  }
}
