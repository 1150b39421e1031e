// The upload page: drop images (and optional label images) into the project, then upload them
// one at a time to POST /api/projects/{id}/images/ with a progress bar per file.

import { h, notify, size, projectId } from "./dom.js";
import { uploadForm } from "./http.js";
import { pairFiles } from "./pairing.js";

const url = `/api/projects/${projectId()}/images/`;
const message = /** @type {HTMLElement} */ (document.getElementById("upload-message"));
const body = /** @type {HTMLElement} */ (document.querySelector("#uploads tbody"));
const start = /** @type {HTMLButtonElement} */ (document.getElementById("upload-start"));
const clear = /** @type {HTMLButtonElement} */ (document.getElementById("upload-clear"));
const files = { images: /** @type {File[]} */ ([]), masks: /** @type {File[]} */ ([]) };
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

/** @param {Item} item */
async function uploadOne(item) {
  const form = new FormData();
  form.append("file", item.image, item.image.name);
  if (item.label) form.append("mask", item.label, item.label.name);
  item.result.textContent = "uploading…";
  try {
    const answer = await uploadForm(url, form, (fraction) => { item.bar.value = fraction; }).done;
    item.bar.value = 1;
    item.result.className = "";
    item.result.textContent = answer.created ? `added: ${answer.crops} crops` : `already in the project (${answer.crops} crops)`;
    item.done = true;
    return true;
  } catch (error) {
    item.result.className = "error-text";
    item.result.textContent = error.message;
    return false;
  }
}

async function uploadAll() {
  uploading = true;
  start.disabled = clear.disabled = true;
  let ok = 0, failed = 0;
  for (const item of items) {
    if (item.done) continue;
    (await uploadOne(item)) ? ok++ : failed++;
  }
  uploading = false;
  clear.disabled = false;
  start.disabled = items.every((i) => i.done);
  notify(message, failed ? `${ok} uploaded, ${failed} failed: see the list. Press Upload to try the failed ones again.`
    : `${ok} image${ok === 1 ? "" : "s"} uploaded. The new crops are in the queue.`, failed ? "error" : "ok");
}

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
