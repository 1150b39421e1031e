// The upload page: drop images (and optional label images) into the project and upload them one
// at a time to POST /api/projects/{id}/images/ with a progress bar per file; each upload queues an
// ingest job on the server, followed here until it ends (several at once). Below, an annotation
// bundle is imported the same way (POST /api/projects/{id}/import/, an import job).

import { h, notify, size, projectId } from "./dom.js";
import { api, uploadForm } from "./http.js";
import { pairFiles } from "./pairing.js";
import { failureText, followJob, guessFormat, importText, ingestText, isJob, progressText } from "./jobs.js";

const project = projectId();
const url = `/api/projects/${project}/images/`;
const message = /** @type {HTMLElement} */ (document.getElementById("upload-message"));
const body = /** @type {HTMLElement} */ (document.querySelector("#uploads tbody"));
const start = /** @type {HTMLButtonElement} */ (document.getElementById("upload-start"));
const clear = /** @type {HTMLButtonElement} */ (document.getElementById("upload-clear"));
const files = { images: /** @type {File[]} */ ([]), masks: /** @type {File[]} */ ([]) };
const getJob = (/** @type {number} */ id) => api(`/api/jobs/${id}/`);
let uploading = false;

/** @typedef {{image: File, label: File | null, row: HTMLElement, bar: HTMLProgressElement, result: HTMLElement, done: boolean}} Item */
/** @type {Item[]} */
let items = [];

/** @param {"images" | "masks"} kind @param {Iterable<File>} added */
function add(kind, added) {
  if (uploading) return;
  const known = new Set(files[kind].map((f) => `${f.name}/${f.size}`));
  for (const file of added) if (!known.has(`${file.name}/${file.size}`)) files[kind].push(file);
  render();
}

function render() {
  const { pairs, unmatched } = pairFiles(files.images, files.masks);
  items = pairs.map(({ image, label }) => {
    const bar = /** @type {HTMLProgressElement} */ (h("progress", { max: 1, value: 0 }));
    const result = h("td", { class: "muted" }, "ready");
    const row = h("tr", { dataset: { file: image.name } }, h("td", {}, image.name), h("td", {}, label ? label.name : "–"),
      h("td", { class: "num" }, size(image.size + (label?.size ?? 0))), h("td", {}, bar), result);
    return { image, label, row, bar, result, done: false };
  });
  body.replaceChildren(...(items.length ? items.map((i) => i.row) : [h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No images chosen yet."))]));
  start.disabled = !items.length;
  if (unmatched.length) {
    notify(message, `No image for these label images (they are left out): ${unmatched.map((f) => f.name).join(", ")}. A label image needs the same file name as its image, optionally with _mask or _labels added.`, "warning");
  } else {
    notify(message, "");
  }
}

/** @param {HTMLElement} cell @param {string} text @param {"" | "muted" | "error-text"} [style] */
function say(cell, text, style = "") {
  cell.className = style;
  cell.textContent = text;
}

/**
 * Send one file; resolves with the ingest job to follow (or with the finished result, from a
 * server that ingests within the request), or false when the upload failed.
 * @param {Item} item
 */
async function send(item) {
  const form = new FormData();
  form.append("file", item.image, item.image.name);
  if (item.label) form.append("mask", item.label, item.label.name);
  item.bar.value = 0;
  say(item.result, "uploading…", "muted");
  try {
    const answer = await uploadForm(url, form, (fraction) => { item.bar.value = fraction; }).done;
    item.bar.value = 1;
    return answer;
  } catch (error) {
    say(item.result, error.message, "error-text");
    return false;
  }
}

/** Poll a job, its progress in `cell`, until it ends. @param {any} first @param {HTMLElement} cell */
function follow(first, cell) {
  let last = first;
  return followJob(first.id, {
    get: getJob, first,
    onUpdate: (job) => { last = job; say(cell, progressText(job), "muted"); },
    onError: (error) => say(cell, `${progressText(last)} (no answer from the server: ${error.message}; asking again)`, "muted"),
  });
}

/** Follow an uploaded file's ingest job to its end; true when the image is in the project. @param {Item} item @param {any} answer */
async function ingest(item, answer) {
  if (!isJob(answer)) {
    say(item.result, ingestText(answer));
    return (item.done = true);
  }
  item.row.dataset.job = String(answer.id);
  const job = await follow(answer, item.result);
  if (job.status === "succeeded") {
    say(item.result, ingestText(job.result ?? {}));
    return (item.done = true);
  }
  say(item.result, failureText(job), "error-text");
  return false;
}

async function uploadAll() {
  uploading = true;
  start.disabled = clear.disabled = true;
  notify(message, "");
  // The files go up one at a time (they share the connection); their jobs run on meanwhile.
  const ingests = [];
  for (const item of items) {
    if (item.done) continue;
    const answer = await send(item);
    ingests.push(answer === false ? Promise.resolve(false) : ingest(item, answer));
  }
  const outcomes = await Promise.all(ingests);
  const ok = outcomes.filter(Boolean).length, failed = outcomes.length - ok;
  uploading = false;
  clear.disabled = false;
  start.disabled = items.every((i) => i.done);
  notify(message, failed ? `${ok} uploaded, ${failed} failed: see the list. Press Upload to try the failed ones again.`
    : `${ok} image${ok === 1 ? "" : "s"} uploaded. The new crops are in the queue.`, failed ? "error" : "ok");
}

// ---- importing an annotation bundle ------------------------------------------------------------------

const importForm = /** @type {HTMLFormElement} */ (document.getElementById("import-form"));
const importBody = /** @type {HTMLElement} */ (document.querySelector("#imports tbody"));
const importMessage = /** @type {HTMLElement} */ (document.getElementById("import-message"));
const field = (/** @type {string} */ name) => /** @type {HTMLInputElement} */ (importForm.elements.namedItem(name));

field("file").addEventListener("change", () => {
  const file = field("file").files?.[0];
  const guess = file ? guessFormat(file.name) : "";
  if (guess) field("format").value = guess;
});

async function startImport() {
  const file = field("file").files?.[0];
  if (!file) return notify(importMessage, "Choose a bundle file first.", "error");
  notify(importMessage, "");
  const form = new FormData();
  form.append("file", file, file.name);
  for (const name of ["format", "mode", "overlap", "object_type"]) {
    const value = field(name).value.trim();
    if (value) form.append(name, value);
  }
  const bar = /** @type {HTMLProgressElement} */ (h("progress", { max: 1, value: 0 }));
  const result = h("td", { class: "muted" }, "uploading…");
  const what = `${field("format").value}, ${field("mode").value === "predictions" ? "as predictions" : "as labels"}`;
  const row = h("tr", { dataset: { file: file.name } }, h("td", {}, file.name), h("td", {}, what),
    h("td", { class: "num" }, size(file.size)), h("td", {}, bar), result);
  importBody.querySelector("tr.placeholder")?.remove();
  importBody.prepend(row);
  let answer;
  try {
    answer = await uploadForm(`/api/projects/${project}/import/`, form, (fraction) => { bar.value = fraction; }).done;
    bar.value = 1;
  } catch (error) {
    return say(result, error.message, "error-text");
  }
  if (!isJob(answer)) return say(result, importText(answer));
  row.dataset.job = String(answer.id);
  const job = await follow(answer, result);
  if (job.status !== "succeeded") return say(result, failureText(job), "error-text");
  say(result, importText(job.result ?? {}));
  const dropped = job.result?.dropped_objects ?? [];
  if (dropped.length) {
    result.append(h("details", {}, h("summary", {}, "which objects were dropped"),
      h("ul", {}, ...dropped.map((/** @type {string} */ why) => h("li", {}, why)))));
  }
}

importForm.addEventListener("submit", (event) => { event.preventDefault(); startImport(); });

for (const zone of document.querySelectorAll(".dropzone")) {
  const kind = /** @type {"images" | "masks"} */ (/** @type {HTMLElement} */ (zone).dataset.role);
  const input = /** @type {HTMLInputElement} */ (zone.querySelector("input[type=file]"));
  input.addEventListener("change", () => { add(kind, input.files ?? []); input.value = ""; });
  zone.addEventListener("keydown", (event) => { if (["Enter", " "].includes(/** @type {KeyboardEvent} */ (event).key)) input.click(); });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    add(kind, /** @type {DragEvent} */ (event).dataTransfer?.files ?? []);
  });
}
start.addEventListener("click", uploadAll);
clear.addEventListener("click", () => { files.images = []; files.masks = []; render(); });
// A file dropped beside the drop zones would make the browser open it and leave the page.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());
