// Asking the model for cells (the Assist tool): one request at a time, later ones queued, each
// answer handed to its tool's callback as it arrives (which commits ONE edit: one undo step).
// Tools stay synchronous and DOM-free: they call ask() and return; the answer comes later.
//
// An answer is dropped, unseen, when the labeller moved on while it was out: another crop was
// loaded, or the flow started a request (submit, skip, lease) - a cell added after the mask was
// sent would be lost without a word. Requests wait for the one in flight even when it is stale:
// the server refuses a second proposal while the labeller's previous one runs (429).
//
// No DOM: the waiting cue is store state (store.waiting) the renderer draws.

import { ApiError } from "./api.js";
import { modelMarks } from "./flow.js";
import { openPlaces, placeRingRadius } from "./overlay.js";

/** @typedef {import("./api.js").ProposalRequest} ProposalRequest */
/** @typedef {import("./proposal.js").Proposal} Proposal */
/** @typedef {import("./store.js").EditorStore} EditorStore */
/** @typedef {import("./store.js").Draft} Shape */
/** @typedef {import("./geometry.js").Point} Point */

/**
 * @typedef {Object} Ask
 * @property {ProposalRequest} request
 * @property {Shape} cue             drawn while the request waits
 * @property {(proposal: Proposal) => void} apply  makes the edit, against the map as it is then
 * @property {number} cropId
 * @property {number} epoch
 * @property {number} flowRequests
 * @property {number} asked          when, for the latency figures
 */

/** Requests waiting behind the one in flight; more clicks than this are refused with a word. */
export const MAX_QUEUED = 4;
/** Latencies kept for stats (the last ones). */
const KEEP_LATENCIES = 500;

export class Assistant {
  /**
   * @param {Object} deps
   * @param {{propose(cropId: number, request: ProposalRequest, shape: {width: number, height: number}): Promise<Proposal>}} deps.api
   * @param {EditorStore} deps.store
   * @param {{crop: import("./api.js").Crop | null, requests: number}} deps.flow  the open crop; requests counts the flow's own
   * @param {() => number} [deps.now] milliseconds
   * @param {boolean} [deps.measure] record each latency as a performance measure "assist" (the page
   *   does: the browser test reads them; `now` must then be performance.now)
   */
  constructor({ api, store, flow, now = () => performance.now(), measure = false }) {
    Object.assign(this, { api, store, flow, now, measure });
    /** @type {Ask[]} */ this.queue = [];
    /** @type {Ask | null} */ this.inFlight = null;
    this.epoch = 0;
    /** Milliseconds from each ask to its edit (or its message), newest last. @type {number[]} */
    this.latencies = [];
    this._unsubscribe = store.subscribe((event) => {
      if (event.type !== "loaded") return;
      this.epoch++;
      this.queue = [];
      this._showWaiting();
    });
  }

  /**
   * Ask the model; `apply` runs with the answer if it is still wanted.
   * @param {ProposalRequest} request @param {Shape} cue @param {(proposal: Proposal) => void} apply
   * @returns {boolean} whether it was sent or queued
   */
  ask(request, cue, apply) {
    const crop = this.flow.crop;
    if (!crop) return false;
    if (this.queue.length >= MAX_QUEUED) {
      this.store.say("The model is still working on your last clicks; wait a moment, then click again.", "warning");
      return false;
    }
    this.queue.push({ request, cue, apply, cropId: crop.id, epoch: this.epoch, flowRequests: this.flow.requests, asked: this.now() });
    this._showWaiting();
    this._next();
    return true;
  }

  /** How many requests are out or queued (still wanted). */
  get waiting() {
    return this.queue.length + (this.inFlight && !this._stale(this.inFlight) ? 1 : 0);
  }

  /**
   * The open place (yellow ring) a click at `p` falls in, if any: the click means that place.
   * @param {Point} p image pixels @param {number} scale screen pixels per image pixel @returns {Point | null}
   */
  placeAt(p, scale) {
    const crop = this.flow.crop;
    if (!crop) return null;
    let best = null, bestDistance = Infinity;
    for (const place of openPlaces(modelMarks(crop).places, this.store.map)) {
      const d = Math.hypot(place.x - p.x, place.y - p.y) * scale;
      if (d <= placeRingRadius(place, scale) + 4 && d < bestDistance) { best = place; bestDistance = d; }
    }
    return best && { x: best.x, y: best.y };
  }

  destroy() {
    this._unsubscribe();
    this.queue = [];
  }

  // ---- internals ------------------------------------------------------------------------------

  _next() {
    if (this.inFlight) return;
    const ask = this.queue.shift();
    if (!ask) return;
    if (this._stale(ask)) {
      this._next();
      return;
    }
    this.inFlight = ask;
    const { width, height } = this.store.map;
    // Sent at once (no extra turn of the event loop: latency); a throw arrives as a rejection.
    let answer;
    try {
      answer = Promise.resolve(this.api.propose(ask.cropId, ask.request, { width, height }));
    } catch (error) {
      answer = Promise.reject(error);
    }
    answer
      .then((proposal) => this._answered(ask, proposal), (error) => this._failed(ask, error))
      .finally(() => {
        if (this.inFlight === ask) this.inFlight = null;
        this._showWaiting();
        this._next();
      });
  }

  /** @param {Ask} ask @param {Proposal} proposal */
  _answered(ask, proposal) {
    if (this._stale(ask)) return;
    this.store.emit({ type: "proposal", method: proposal.method, modelVersion: proposal.modelVersion });
    if (this.inFlight === ask) this.inFlight = null; // the cue goes in the frame that draws the cell
    this._showWaiting();
    try {
      ask.apply(proposal);
    } catch (error) {
      // e.g. a crop already holding the most cells a mask can: say so rather than fail silently
      this.store.say(`The model's cells could not be added (${error instanceof Error ? error.message : error}).`, "error");
    }
    this._record(ask);
  }

  /** @param {Ask} ask @param {unknown} error */
  _failed(ask, error) {
    if (this._stale(ask)) return;
    this._record(ask);
    this.store.say(proposalFailure(error), "warning");
  }

  /** @param {Ask} ask */
  _stale(ask) {
    return ask.epoch !== this.epoch || ask.flowRequests !== this.flow.requests || this.flow.crop?.id !== ask.cropId;
  }

  /** @param {Ask} ask */
  _record(ask) {
    const end = this.now();
    this.latencies.push(end - ask.asked);
    if (this.measure) performance.measure("assist", { start: ask.asked, end });
    if (this.latencies.length > KEEP_LATENCIES) this.latencies.shift();
  }

  _showWaiting() {
    const asks = this.inFlight ? [this.inFlight, ...this.queue] : this.queue;
    this.store.setWaiting(asks.filter((ask) => !this._stale(ask)).map((ask) => ask.cue));
  }
}

/** What to tell the labeller when a proposal failed (their edits are untouched). @param {unknown} error */
export function proposalFailure(error) {
  if (error instanceof ApiError && error.status === 429) {
    return "The model is still working on an earlier request of yours; click again in a moment.";
  }
  if (error instanceof ApiError && error.kind === "expired") {
    return "Your hold on this crop ran out, so the model cannot propose cells for it. Your edits are still here: submit them.";
  }
  const said = error instanceof Error ? error.message : String(error);
  return `The model could not propose a cell (${said.replace(/\.$/, "")}). Your edits are still here; draw the cell by hand or try again.`;
}
