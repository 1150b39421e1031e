// The Review page: the review queue in the order and state chosen, one row per annotation, each
// opening the editor's review mode there (the next ones follow in the same order).

import { createApi } from "../editor/api.js";
import { REVIEW_ORDERS } from "../editor/review.js";
import { h, notify, pill, projectId, when } from "./dom.js";
import { rangeText, reviewRow, reviewUrl } from "./review_rows.js";

const PAGE = 50;
const project = projectId();
const source = createApi();
const form = /** @type {HTMLFormElement} */ (document.getElementById("review-filters"));
const orderSelect = /** @type {HTMLSelectElement} */ (form.elements.namedItem("order"));
const stateSelect = /** @type {HTMLSelectElement} */ (form.elements.namedItem("state"));
const start = /** @type {HTMLAnchorElement} */ (document.getElementById("review-start"));
const message = /** @type {HTMLElement} */ (document.getElementById("review-message"));
const body = /** @type {HTMLElement} */ ((/** @type {HTMLTableElement} */ (document.getElementById("review-table"))).tBodies[0]);
const range = /** @type {HTMLElement} */ (document.querySelector("[data-role=range]"));
const prev = /** @type {HTMLButtonElement} */ (document.querySelector("[data-page=prev]"));
const next = /** @type {HTMLButtonElement} */ (document.querySelector("[data-page=next]"));

orderSelect.replaceChildren(...Object.entries(REVIEW_ORDERS).map(([value, name]) => h("option", { value }, name)));
const asked = new URLSearchParams(location.search);
if (asked.get("order") && asked.get("order") in REVIEW_ORDERS) orderSelect.value = /** @type {string} */ (asked.get("order"));
if (asked.get("state")) stateSelect.value = /** @type {string} */ (asked.get("state"));
let offset = 0, count = 0;

async function load() {
  const order = orderSelect.value, state = stateSelect.value;
  start.href = reviewUrl(project, order);
  history.replaceState(null, "", `?${new URLSearchParams({ order, state })}`);
  try {
    const page = await source.reviewQueue(project, { order, state, limit: PAGE, offset });
    count = page.count;
    body.replaceChildren(...(page.results.length ? page.results.map((entry) => row(entry, order)) : [emptyRow()]));
    range.textContent = rangeText(offset, page.results.length, count);
    prev.disabled = offset === 0;
    next.disabled = offset + PAGE >= count;
    notify(message, "");
  } catch (error) {
    notify(message, `Could not load the review queue. ${error instanceof Error ? error.message : error}`, "error");
  }
}

/** @param {import("../editor/api.js").ReviewSummary} entry @param {string} order */
function row(entry, order) {
  const shown = reviewRow(entry, when);
  return h("tr", { dataset: { annotation: String(entry.id), crop: String(entry.cropId) } },
    h("td", {}, shown.crop), h("td", {}, shown.labeller), h("td", {}, shown.submitted),
    h("td", { class: "num" }, String(shown.cells)), h("td", { class: "num" }, String(shown.changed)),
    h("td", { class: "num" }, String(shown.actions)),
    h("td", {}, pill(shown.state), shown.decision ? h("span", { class: "muted decision" }, ` ${shown.decision}`) : null),
    h("td", {}, h("a", { class: "button", href: reviewUrl(project, order, entry.id) }, shown.open)));
}

function emptyRow() {
  return h("tr", {}, h("td", { colspan: 8, class: "empty" }, "Nothing in this state."));
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  offset = 0;
  load();
});
for (const select of [orderSelect, stateSelect]) select.addEventListener("change", () => { offset = 0; load(); });
prev.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
next.addEventListener("click", () => { offset += PAGE; load(); });
load();
