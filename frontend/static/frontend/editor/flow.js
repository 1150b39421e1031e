// The labelling flow: open the next crop -> correct it -> submit (or skip) -> the next crop opens
// at once; when a request fails, say so and offer what can be done, keeping the edits. No DOM: it
// talks to the API adapter and the store, and asks the page (a port, below) to show things.

import { ApiError } from "./api.js";
import { encodeRle } from "./codec.js";
import { LabelMap } from "./labelmap.js";

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./api.js").Crop} Crop */
/** @typedef {import("./api.js").Place} Place */
/** @typedef {import("./store.js").EditorStore} EditorStore */
/** @typedef {import("./timer.js").ActiveTimer} ActiveTimer */
/** @typedef {[string, () => void]} Choice  a button's label and what it does */
/** @typedef {"load" | "submit" | "skip"} Action */

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
 * @property {(text: string) => void} showInfo
 * @property {(text: string, choices: Choice[]) => void} showFailure
 * @property {(question: string) => boolean} confirm
 * @property {(fileName: string, text: string) => void} download  a file the labeller keeps
 */

export const QUEUE_EMPTY = "No crops are waiting in this project's queue. Thank you! Check back later.";

export class LabellingFlow {
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
    // The accept-all tool asks through the store: submit the prediction as it is.
    this._unsubscribe = store.subscribe((event) => {
      if (event.type === "command" && event.name === "accept-all") this.submit();
    });
  }

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
      this.crop = null;
      this.store.load(new LabelMap(0, 0));
      this.page.showInfo(QUEUE_EMPTY);
      return;
    }
    this.open(crop, /** @type {CanvasImageSource} */ (image));
    this.openMs = this.now() - started;
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
    if (!(await this._request("Skipping…", "skip", () => this.api.skip(crop.id)))) return;
    this.store.markSaved();
    await this.loadNext();
  }

  /** After a lease ran out: lease the same crop again (the map on screen stays) and submit. */
  async leaseAndSubmit() {
    const crop = this.crop;
    if (!crop || this.busy) return;
    if (!(await this._request("Taking the crop back…", "submit", () => this.api.lease(crop.id)))) return;
    await this.submit();
  }

  discardAndNext() {
    if (this.store.isDirty && !this.page.confirm("Drop your edits on this crop and open the next one?")) return;
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
        text: `Could not open the next crop. ${failure.message} ${failure.kind === "auth" ? failure.advice : ""}`,
        choices: [["Try again", () => this.loadNext()]],
      };
    }
    const lost = ["expired", "taken", "not_found"].includes(failure.kind);
    /** @type {Choice[]} */
    const choices = [];
    if (failure.kind === "expired") choices.push(["Take the crop back and submit", () => this.leaseAndSubmit()]);
    else if (!lost) choices.push(action === "skip" ? ["Try skipping again", () => this.skip()] : ["Try again", () => this.submit()]);
    choices.push(["Download my mask", () => this.downloadMask()]);
    if (lost) choices.push(["Open the next crop (drop my edits)", () => this.discardAndNext()]);
    return { text: `${action === "skip" ? "Not skipped" : "Not saved"}. ${failure.message} ${failure.advice}`, choices };
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
  if (crop.currentAnnotation) parts.push(`correcting saved version ${crop.currentAnnotation.version}`);
  else parts.push(p ? `prediction by ${p.modelVersionName || "the model"}` : "no prediction yet: draw the cells");
  if (flagged.size === 1) parts.push("the cell the model is least sure of is outlined in red");
  if (flagged.size > 1) parts.push(`the ${flagged.size} cells the model is least sure of are outlined in red`);
  if (places.length === 1) parts.push("the place where it may have missed a cell is circled in yellow");
  if (places.length > 1) parts.push(`the ${places.length} places where it may have missed a cell are circled in yellow`);
  return parts.join(" · ");
}
