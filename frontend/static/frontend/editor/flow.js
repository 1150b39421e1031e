// The labelling flow: open the next crop -> correct it -> submit (or skip) -> the next crop opens
// at once; when a request fails, say so and offer what can be done, keeping the edits. No DOM: it
// talks to the API adapter and the store, and asks the page (a port, below) to show things.
// CropFlow holds what every flow over crops shares (open, submit, put back, failures); where the
// next crop comes from is each flow's own: the queue here, the review queue in review.js.

import { ApiError } from "./api.js";
import { encodeRle } from "./codec.js";
import { LabelMap } from "./labelmap.js";

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./api.js").Crop} Crop */
/** @typedef {import("./api.js").Place} Place */
/** @typedef {import("./store.js").EditorStore} EditorStore */
/** @typedef {import("./timer.js").ActiveTimer} ActiveTimer */
/** @typedef {[string, () => void]} Choice  a button's label and what it does */
/** @typedef {"load" | "submit" | "skip" | "accept" | "return"} Action */

/**
 * What the model marks on a crop for the labeller to check.
 * @typedef {{flagged: Set<number>, places: Place[]}} Marks
 */

/**
 * What the page shows for the flow.
 * @typedef {Object} FlowPage
 * @property {(busy: boolean, text: string) => void} setBusy  a request is under way (text says which)
 * @property {(crop: Crop, image: CanvasImageSource, marks: Marks) => void} showImage  a crop is opening
 * @property {(info: string) => void} showOpened  the crop's map is loaded: fit it, describe it, draw it
 * @property {(note: Note | null) => void} showNote  what the labeller must read before submitting, until the next crop
 * @property {(text: string) => void} showInfo
 * @property {(text: string, choices: Choice[]) => void} showFailure
 * @property {(question: string) => boolean} confirm
 * @property {(fileName: string, text: string) => void} download  a file the labeller keeps
 */

/**
 * A reviewer's word on the labeller's last submission, shown apart from the info line.
 * @typedef {{title: string, text: string}} Note
 */

export const QUEUE_EMPTY = "No crops are waiting in this project's queue. Thank you! Check back later.";

/** What LabellingFlow and the review flow share: a crop open for editing, submit, put back, failures. */
export class CropFlow {
  /**
   * @param {Object} deps
   * @param {Api} deps.api
   * @param {number | string} deps.projectId
   * @param {EditorStore} deps.store
   * @param {ActiveTimer} deps.timer
   * @param {(url: string) => Promise<CanvasImageSource>} deps.loadImage
   * @param {FlowPage} deps.page
   * @param {() => number} [deps.now] milliseconds
   */
  constructor({ api, projectId, store, timer, loadImage, page, now = () => performance.now() }) {
    Object.assign(this, { api, projectId, store, timer, loadImage, page, now });
    /** @type {Crop | null} */ this.crop = null;
    this.busy = false;
    /** requests the flow has started (open, submit, skip, lease): the Assist tool drops answers that arrive after one */
    this.requests = 0;
    /** milliseconds from asking for the crop to its first frame */ this.openMs = 0;
    /** what "the next one" is called in messages */ this.noun = "crop";
    /** @type {Partial<Record<Action, [string, string, () => unknown]>>} after a failure: what was not done, the retry button, the retry */
    this.retries = {
      submit: ["Not saved", "Try again", () => this.submit()],
      skip: ["Not skipped", "Try skipping again", () => this.skip()],
    };
    // The accept-all tool asks through the store.
    this._unsubscribe = store.subscribe((event) => {
      if (event.type === "command" && event.name === "accept-all") this.acceptAll();
    });
  }

  /** Open the next crop; each flow knows where it comes from. @returns {Promise<void>} */
  async loadNext() {
    throw new Error("a flow must say where its next crop comes from");
  }

  /** The accept-all tool: what the prediction (or the mask shown), accepted as it is, means here. */
  acceptAll() {
    return this.submit();
  }

  /** Show a crop and its prediction (or an empty map) for editing. @param {Crop} crop @param {CanvasImageSource} image */
  open(crop, image) {
    this.crop = crop;
    const marks = modelMarks(crop);
    // Before the store loads the map: its "loaded" event redraws the cells with the marks.
    this.page.showImage(crop, image, marks);
    this.store.load(startingMap(crop));
    this.timer.restart();
    this.page.showOpened(describeCrop(crop, marks));
    this.page.showNote(this.note(crop));
  }

  /** What the one editing this crop must read first. @param {Crop} crop @returns {Note | null} */
  note(crop) {
    return returnedNote(crop);
  }

  /** Nothing left to open: say so, with nothing to edit. @param {string} text */
  showEmpty(text) {
    this.crop = null;
    this.store.load(new LabelMap(0, 0));
    this.page.showNote(null);
    this.page.showInfo(text);
  }

  async submit() {
    const crop = this.crop;
    if (!crop || this.busy) return;
    const { store } = this;
    store.finishStroke();
    const saved = await this._request("Saving…", "submit", () => this.api.submit(crop.id, {
      labelMap: store.map,
      secondsSpent: this.timer.seconds(),
      editCounts: store.editCounts(),
      startedFrom: crop.currentAnnotation ? null : crop.prediction?.modelVersionId ?? null,
    }));
    if (!saved) return;
    store.markSaved();
    await this.loadNext();
  }

  async skip() {
    const crop = this.crop;
    if (!crop || this.busy) return;
    if (this.store.isDirty && !this.page.confirm("Skip this crop? Your edits on it will be dropped.")) return;
    if (!(await this._request("Skipping…", "skip", () => this.putBack(crop)))) return;
    this.store.markSaved();
    await this.loadNext();
  }

  /** Give up the crop without submitting. @param {Crop} crop */
  putBack(crop) {
    return this.api.skip(crop.id);
  }

  /** After a lease ran out: lease the same crop again (the map on screen stays) and submit. */
  async leaseAndSubmit() {
    const crop = this.crop;
    if (!crop || this.busy) return;
    if (!(await this._request("Taking the crop back…", "submit", () => this.api.lease(crop.id)))) return;
    await this.submit();
  }

  discardAndNext() {
    if (this.store.isDirty && !this.page.confirm(`Drop your edits on this crop and open the next ${this.noun}?`)) return;
    this.store.markSaved();
    return this.loadNext();
  }

  /** The current mask as the API's JSON, as a file the labeller keeps. */
  downloadMask() {
    if (!this.crop) return;
    this.page.download(`crop-${this.crop.id}-mask.rle.json`, JSON.stringify(encodeRle(this.store.map)));
  }

  /**
   * What went wrong, and the choices it leaves; the edits stay in the store.
   * @param {unknown} error @param {Action} action @returns {{text: string, choices: Choice[]}}
   */
  failure(error, action) {
    const failure = error instanceof ApiError ? error
      : new ApiError("network", `Something went wrong: ${error instanceof Error ? error.message : error}.`, "Try again.");
    if (action === "load") {
      return {
        text: `Could not open the next ${this.noun}. ${failure.message} ${failure.kind === "auth" ? failure.advice : ""}`,
        choices: [["Try again", () => this.loadNext()]],
      };
    }
    const [notDone, retryLabel, retry] = /** @type {[string, string, () => unknown]} */ (this.retries[action]);
    // A review decision needs no lease; a refused one (decided meanwhile) will not pass on a retry.
    const decision = action === "accept" || action === "return";
    const lost = ["expired", "taken", "not_found"].includes(failure.kind) || (decision && failure.kind === "invalid");
    /** @type {Choice[]} */
    const choices = [];
    if (failure.kind === "expired" && !decision) choices.push(["Take the crop back and submit", () => this.leaseAndSubmit()]);
    else if (!lost) choices.push([retryLabel, retry]);
    choices.push(["Download my mask", () => this.downloadMask()]);
    if (lost) choices.push([`Open the next ${this.noun} (drop my edits)`, () => this.discardAndNext()]);
    return { text: `${notDone}. ${failure.message} ${failure.advice}`, choices };
  }

  destroy() {
    this._unsubscribe();
  }

  /**
   * Run a request with the page busy; on failure show what can be done.
   * @param {string} text @param {Action} action @param {() => Promise<unknown>} call @returns {Promise<boolean>} whether it succeeded
   */
  async _request(text, action, call) {
    this._setBusy(true, text);
    try {
      await call();
    } catch (error) {
      this._setBusy(false);
      const { text: said, choices } = this.failure(error, action);
      this.page.showFailure(said, choices);
      return false;
    }
    this._setBusy(false);
    return true;
  }

  /** @param {boolean} busy @param {string} [text] */
  _setBusy(busy, text = "") {
    if (busy) this.requests++;
    this.busy = busy;
    this.page.setBusy(busy, text);
  }
}

/** The labeller's part of the queue: the next crop it serves. */
export class LabellingFlow extends CropFlow {
  async loadNext() {
    const started = this.now();
    /** @type {Crop | null} */ let crop = null;
    /** @type {CanvasImageSource | undefined} */ let image;
    const loaded = await this._request("Opening the next crop…", "load", async () => {
      crop = await this.api.nextCrop(this.projectId);
      if (crop) image = await this.loadImage(crop.imageUrl);
    });
    if (!loaded) return;
    if (!crop) {
      this.showEmpty(QUEUE_EMPTY);
      return;
    }
    this.open(crop, /** @type {CanvasImageSource} */ (image));
    this.openMs = this.now() - started;
  }
}

/** A returned crop's reviewer and comment, for its author to read until they submit again. @param {Crop} crop @returns {Note | null} */
export function returnedNote(crop) {
  const saved = crop.currentAnnotation;
  if (saved?.reviewState !== "returned") return null;
  return {
    title: `Returned to you by ${saved.reviewedByName || "a reviewer"}`,
    text: saved.reviewComment || "No comment was given.",
  };
}

/** What editing starts from: the crop's saved mask, else the model's prediction, else nothing. @param {Crop} crop */
export function startingMap(crop) {
  return (crop.currentAnnotation ?? crop.prediction)?.labelMap ?? new LabelMap(crop.width, crop.height);
}

/** The model's marks, shown only over its own prediction (not when correcting a saved mask). @param {Crop} crop @returns {Marks} */
export function modelMarks(crop) {
  const prediction = crop.currentAnnotation ? null : crop.prediction;
  return { flagged: new Set(prediction?.uncertainCells ?? []), places: prediction?.missedPlaces ?? [] };
}

/** The info line: which crop, why it was served, and what the model marked. @param {Crop} crop @param {Marks} marks */
export function describeCrop(crop, { flagged, places }) {
  const parts = [`Crop ${crop.id}`];
  if (crop.imageName) parts.push(crop.imageName);
  parts.push(`${crop.width}×${crop.height}`);
  if (crop.rank != null) parts.push(`rank ${crop.rank}`);
  if (crop.score != null) parts.push(`score ${Number(crop.score).toFixed(3)}${crop.reason ? ` (${crop.reason})` : ""}`);
  const p = crop.prediction;
  if (crop.blind) parts.push("a second, independent label: the first labeller's mask is hidden");
  if (crop.currentAnnotation) parts.push(`correcting saved version ${crop.currentAnnotation.version}`);
  else parts.push(p ? `prediction by ${p.modelVersionName || "the model"}` : "no prediction yet: draw the cells");
  if (flagged.size === 1) parts.push("the cell the model is least sure of is outlined in red");
  if (flagged.size > 1) parts.push(`the ${flagged.size} cells the model is least sure of are outlined in red`);
  if (places.length === 1) parts.push("the place where it may have missed a cell is circled in yellow");
  if (places.length > 1) parts.push(`the ${places.length} places where it may have missed a cell are circled in yellow`);
  return parts.join(" · ");
}
