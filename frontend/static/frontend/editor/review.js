// The review flow: open the next submitted annotation of the review queue (in the order the
// reviewer chose) on its crop, leased for the reviewer -> look at it, beside the model's
// prediction if need be -> accept it, return it to its author with a comment, or submit a
// correction -> the next one opens at once, leaving out the ones opened in this session. No DOM:
// like the labelling flow (flow.js, whose CropFlow it extends) it talks to the API adapter and the
// store and asks the page to show things.

import { ApiError } from "./api.js";
import { CropFlow } from "./flow.js";

/** @typedef {import("./api.js").Crop} Crop */
/** @typedef {import("./api.js").ReviewSummary} ReviewSummary */
/** @typedef {"submitted" | "prediction"} Showing  which map is on screen */

/**
 * What the review panel shows.
 * @typedef {Object} ReviewPanel
 * @property {number} annotationId
 * @property {string} author
 * @property {string | null} submittedAt ISO time
 * @property {number} version
 * @property {string} state its review state when opened
 * @property {boolean} decidable whether it still awaits a decision (accept and return apply)
 * @property {Showing} showing
 * @property {boolean} hasPrediction
 */

/**
 * The review page: the labelling page, plus the review panel.
 * @typedef {import("./flow.js").FlowPage & {
 *   showReview: (panel: ReviewPanel | null) => void,
 *   needComment: (text: string) => void,
 * }} ReviewPage
 */

export const REVIEW_QUEUE_EMPTY = "Nothing is waiting for review in this order. Thank you! Check back later.";
export const COMMENT_NEEDED = "Say in the comment what the labeller should change, then press Return.";
export const PREDICTION_READ_ONLY = "The model's prediction is shown for comparison only: press T to go back to the submitted mask and edit that.";
/** How many queue entries one request reads. */
export const REVIEW_PAGE_SIZE = 25;
/** The review orders the server knows, as the Review page names them. */
export const REVIEW_ORDERS = /** @type {const} */ ({
  newest: "Newest first",
  difference: "Most changed from the prediction",
  sample: "The random sample of each labeller's work",
  random: "Random",
});

export class ReviewFlow extends CropFlow {
  /**
   * @param {ConstructorParameters<typeof CropFlow>[0] & {page: ReviewPage, order?: string,
   *   first?: {annotationId: number, cropId: number} | null}} deps
   *   first: the annotation to open before the queue (a link from the Review page)
   */
  constructor({ order = "newest", first = null, ...deps }) {
    super(deps);
    this.order = order in REVIEW_ORDERS ? order : "newest";
    this.first = first;
    this.noun = "annotation to review";
    /** annotations opened in this session: the queue moves past them even when they are still waiting */
    this.handled = new Set();
    /** @type {Showing} */ this.showing = "submitted";
    this.retries.accept = ["Not accepted", "Try again", () => this.accept()];
    this.retries.return = ["Not returned", "Try again", () => this.returnToAuthor(this.comment)];
    this.comment = "";
  }

  async loadNext() {
    const started = this.now();
    /** @type {Crop | null} */ let crop = null;
    /** @type {CanvasImageSource | undefined} */ let image;
    const loaded = await this._request("Opening the next annotation to review…", "load", async () => {
      crop = await this._leaseNext();
      if (crop) image = await this.loadImage(crop.imageUrl);
    });
    if (!loaded) return;
    if (!crop) {
      this.page.showReview(null);
      this.showEmpty(REVIEW_QUEUE_EMPTY);
      return;
    }
    this.open(crop, /** @type {CanvasImageSource} */ (image));
    this.openMs = this.now() - started;
  }

  /** @param {Crop} crop @param {CanvasImageSource} image */
  open(crop, image) {
    this.showing = "submitted";
    this.comment = "";
    super.open(crop, image);
    this._showPanel();
  }

  /** The comment on a returned crop is its labeller's to read; the review panel shows the state. */
  note() {
    return null;
  }

  /** The accept-all tool, in review: the submitted mask is right as it is. */
  acceptAll() {
    return this.accept();
  }

  /** Between the submitted mask (edited here) and the model's prediction (read-only). */
  toggle() {
    const crop = this.crop;
    if (!crop || this.busy) return;
    if (this.showing === "submitted") {
      if (!crop.prediction) {
        this.store.say("This crop has no prediction to compare with.", "info");
        return;
      }
      this.store.showAside(crop.prediction.labelMap, PREDICTION_READ_ONLY);
      this.showing = "prediction";
    } else {
      this._backToSubmitted();
    }
    this._showPanel();
  }

  async accept() {
    await this._decide("accept", "Accepting…", "");
  }

  /** Return the annotation to its author, who is shown the comment. @param {string} comment */
  async returnToAuthor(comment) {
    const said = comment.trim();
    if (!said) {
      this.page.needComment(COMMENT_NEEDED);
      return;
    }
    this.comment = said;
    await this._decide("return", "Returning to its author…", said);
  }

  async submit() {
    this._backToSubmitted();
    await super.submit();
  }

  async skip() {
    this._backToSubmitted();
    await super.skip();
  }

  discardAndNext() {
    this._backToSubmitted();
    return super.discardAndNext();
  }

  downloadMask() {
    this._backToSubmitted();
    super.downloadMask();
  }

  /** Leave it for later: give the lease back. @param {Crop} crop */
  putBack(crop) {
    return this.api.release(crop.id);
  }

  /**
   * @param {"accept" | "return"} action @param {string} busyText @param {string} comment
   */
  async _decide(action, busyText, comment) {
    const saved = this.crop?.currentAnnotation;
    if (!saved || this.busy) return;
    if (this.store.isDirty && !this.page.confirm(
      `${action === "accept" ? "Accept" : "Return"} the annotation as submitted? Your edits will be dropped (Submit correction keeps them).`)) return;
    if (!(await this._request(busyText, action, () => this.api.review(saved.id, action, comment)))) return;
    this._backToSubmitted();
    this.store.markSaved();
    await this.loadNext();
  }

  /** Lease the crop of the next annotation to review, or null when none is waiting. @returns {Promise<Crop | null>} */
  async _leaseNext() {
    for (;;) {
      const chosen = this.first !== null;
      const target = this.first ?? await this._nextInQueue();
      if (!target) return null;
      const crop = await this._lease(target.cropId); // a failure throws: Try again asks for the same one
      this.first = null;
      this.handled.add(target.annotationId);
      if (!crop) continue;
      // Decided (or replaced by a newer version) since the queue was read: not this one after all.
      // One opened from a link is shown whatever its state: a reviewer may correct an accepted mask.
      if (chosen || (crop.currentAnnotation?.id === target.annotationId && crop.currentAnnotation.reviewState === "submitted")) {
        return crop;
      }
      await this.api.release(crop.id);
    }
  }

  /** The next annotation the queue lists that was not opened in this session. */
  async _nextInQueue() {
    for (let offset = 0; ; offset += REVIEW_PAGE_SIZE) {
      const page = await this.api.reviewQueue(this.projectId, { state: "submitted", order: this.order, limit: REVIEW_PAGE_SIZE, offset });
      const next = page.results.find((entry) => !this.handled.has(entry.id));
      if (next) return { annotationId: next.id, cropId: next.cropId };
      if (!page.results.length || offset + REVIEW_PAGE_SIZE >= page.count) return null;
    }
  }

  /** The crop leased for review, or null when someone else works on it or it is not the reviewer's to open. @param {number} cropId */
  async _lease(cropId) {
    try {
      return await this.api.lease(cropId);
    } catch (error) {
      const elsewhere = error instanceof ApiError && (error.kind === "taken" || error.code === "forbidden");
      if (elsewhere) return null;
      throw error;
    }
  }

  _backToSubmitted() {
    if (this.showing !== "prediction") return;
    this.store.bringBack();
    this.showing = "submitted";
    this._showPanel();
  }

  _showPanel() {
    const crop = this.crop;
    const saved = crop?.currentAnnotation;
    if (!crop || !saved) {
      this.page.showReview(null);
      return;
    }
    this.page.showReview({
      annotationId: saved.id, author: saved.authorName, submittedAt: saved.createdAt, version: saved.version,
      state: saved.reviewState, decidable: saved.reviewState === "submitted", showing: this.showing,
      hasPrediction: Boolean(crop.prediction),
    });
  }
}

/** Who submitted the annotation, when, and where its review stands. @param {ReviewPanel} panel @param {(iso: string | null) => string} when */
export function reviewLine(panel, when) {
  const parts = [`Annotation ${panel.annotationId} (version ${panel.version}) submitted by ${panel.author || "someone"}`];
  if (panel.submittedAt) parts.push(when(panel.submittedAt));
  if (!panel.decidable) parts.push(`already ${panel.state}: you can still submit a correction`);
  return parts.join(" · ");
}

/** The toggle's words: which map is on screen. @param {ReviewPanel} panel */
export function showingLabel(panel) {
  if (!panel.hasPrediction) return "No prediction to compare";
  return panel.showing === "prediction" ? "Showing: the model's prediction (read-only)" : "Showing: the submitted mask";
}
