// The queue page: the ranked crops with thumbnails, score, reason and lease holder; filters;
// pin, boost, bury, tag and assign, for one crop (row buttons) or the ticked ones (batch bar).

import { h, notify, pill, fixed, when } from "./dom.js";
import { api } from "./http.js";
import { queueApi } from "./queue_api.js";

const PAGE = 50;
const data = JSON.parse(/** @type {HTMLElement} */ (document.getElementById("queue-page")).textContent ?? "{}");
const source = queueApi(data.queue_api);

const filtersForm = /** @type {HTMLFormElement} */ (document.getElementById("queue-filters"));
const batch = /** @type {HTMLElement} */ (document.getElementById("queue-batch"));
const message = /** @type {HTMLElement} */ (document.getElementById("queue-message"));
const table = /** @type {HTMLTableElement} */ (document.getElementById("queue-table"));
const body = /** @type {HTMLElement} */ (table.tBodies[0]);
const selectAll = /** @type {HTMLInputElement} */ (table.querySelector("[data-role=all]"));
const range = /** @type {HTMLElement} */ (document.querySelector("[data-role=range]"));

const state = { offset: 0, count: 0, /** @type {import("./queue_api.js").QueueEntry[]} */ entries: [], selected: new Set() };

function filters() {
  const form = new FormData(filtersForm);
  return /** @type {any} */ (Object.fromEntries([...form.entries()].map(([k, v]) => [k, String(v).trim()])));
}

async function load() {
  try {
    const page = await source.list(filters(), state.offset, PAGE);
    Object.assign(state, { count: page.count, entries: page.entries });
    state.selected.clear();
    render();
  } catch (error) {
    notify(message, `Could not load the queue. ${error.message}`, "error");
  }
}

function render() {
  body.replaceChildren(...(state.entries.length ? state.entries.map(row) : [emptyRow()]));
  const last = Math.min(state.offset + PAGE, state.count);
  range.textContent = state.count ? `${state.offset + 1}–${last} of ${state.count}` : "";
  /** @type {HTMLButtonElement} */ (document.querySelector("[data-page=prev]")).disabled = state.offset === 0;
  /** @type {HTMLButtonElement} */ (document.querySelector("[data-page=next]")).disabled = last >= state.count;
  updateSelection();
}

function emptyRow() {
  return h("tr", {}, h("td", { colspan: 11, class: "empty" }, "No crops match these filters."));
}

/** @param {import("./queue_api.js").QueueEntry} e */
function row(e) {
  const box = h("input", { type: "checkbox", "aria-label": `Select crop ${e.id}` });
  box.addEventListener("change", () => { box.checked ? state.selected.add(e.id) : state.selected.delete(e.id); updateSelection(); });
  const lease = e.leasedBy ? h("span", { title: `until ${when(e.leaseExpiresAt)}` }, e.leasedBy) : "–";
  const buttons = h("span", { class: "row-actions" },
    h("button", { type: "button", onclick: () => run(e.pinned ? "unpin" : "pin", [e]) }, e.pinned ? "Unpin" : "Pin"),
    " ", h("button", { type: "button", title: "Serve before unboosted crops", onclick: () => run("boost", [e]) }, "Boost"),
    " ", h("button", { type: "button", title: "Serve after everything else", onclick: () => run("bury", [e]) }, "Bury"));
  return h("tr", { dataset: { crop: String(e.id) } },
    h("td", {}, box),
    h("td", { class: "num" }, String(e.rank)),
    h("td", {}, h("img", { src: e.displayUrl, alt: `crop ${e.id}`, loading: "lazy" })),
    h("td", {}, h("b", {}, `Crop ${e.id}`), h("br"), h("span", { class: "muted" }, `${e.imageName} @ ${e.x},${e.y} · ${e.width}×${e.height}`)),
    h("td", { class: "num", title: scoresText(e.scores) }, fixed(e.score)),
    h("td", { class: "reason" }, pill(e.reason, reasonKind(e.reason))),
    h("td", {}, e.tags.join(", ") || "–"),
    h("td", {}, e.assignedTo || "–"),
    h("td", {}, lease),
    h("td", {}, e.status),
    h("td", {}, buttons));
}

/** The stored scores by strategy, for the score's tooltip. @param {Record<string, number>} scores */
function scoresText(scores) {
  const parts = Object.entries(scores).map(([strategy, score]) => `${strategy} ${fixed(score)}`);
  return parts.length ? `scores of the ranking model version: ${parts.join(", ")}` : "no stored scores";
}

/** @param {string} reason */
function reasonKind(reason) {
  if (reason === "pinned") return "pinned";
  if (reason.startsWith("boost")) return "boost";
  if (reason.startsWith("buried")) return "buried";
  if (reason.startsWith("random")) return "control";
  return "";
}

function updateSelection() {
  const n = state.selected.size;
  /** @type {HTMLElement} */ (batch.querySelector("[data-role=selected]")).textContent = `${n} selected`;
  for (const button of batch.querySelectorAll("button")) /** @type {HTMLButtonElement} */ (button).disabled = n === 0;
  selectAll.checked = n > 0 && n === state.entries.length;
}

/** @param {string} action @param {import("./queue_api.js").QueueEntry[]} entries */
async function run(action, entries) {
  const tag = /** @type {HTMLInputElement} */ (batch.querySelector("[name=batch-tag]")).value.trim();
  const userId = Number(/** @type {HTMLSelectElement} */ (batch.querySelector("[name=batch-user]")).value) || undefined;
  if ((action === "tag" || action === "untag") && !tag) {
    notify(message, "Type a tag first.", "warning");
    return;
  }
  let text = "", level = /** @type {"ok" | "error"} */ ("ok");
  try {
    const changed = await source.act(action, entries, { tags: tag ? [tag] : [], userId });
    text = `${label(action)}: ${changed} crop${changed === 1 ? "" : "s"} changed.`;
  } catch (error) {
    [text, level] = [`${label(action)} failed. ${error.message}`, "error"];
  }
  await load();
  notify(message, text, level);
}

/** @param {string} action */
const label = (action) => ({ reset_priority: "Reset priority" })[action] ?? action[0].toUpperCase() + action.slice(1);

async function loadSettings(form) {
  const settings = await api(form.dataset.url);
  const select = /** @type {HTMLSelectElement} */ (form.elements.namedItem("strategy"));
  select.replaceChildren(...settings.strategies.map((s) => h("option", { value: s }, s)));
  select.value = settings.strategy;
  /** @type {HTMLInputElement} */ (form.elements.namedItem("random_fraction")).value = String(settings.random_fraction);
  const ranked = settings.ranked_with_version;
  /** @type {HTMLElement} */ (form.querySelector("[data-role=ranked-with]")).textContent =
    ranked ? `ranked with the scores of model version ${ranked}` : "not ranked by a model yet";
}

async function saveSettings(form) {
  const strategy = /** @type {HTMLSelectElement} */ (form.elements.namedItem("strategy")).value;
  const fraction = Number(/** @type {HTMLInputElement} */ (form.elements.namedItem("random_fraction")).value);
  try {
    await api(form.dataset.url, { method: "PUT", body: { strategy, random_fraction: fraction } });
    notify(message, "Saved; the queue was re-ranked.", "ok");
    await Promise.all([loadSettings(form), load()]);
  } catch (error) {
    notify(message, `Not saved. ${error.message}`, "error");
  }
}

filtersForm.addEventListener("submit", (event) => { event.preventDefault(); state.offset = 0; load(); });
filtersForm.addEventListener("change", () => { state.offset = 0; load(); });
selectAll.addEventListener("change", () => {
  state.selected = new Set(selectAll.checked ? state.entries.map((e) => e.id) : []);
  for (const box of body.querySelectorAll("input[type=checkbox]")) /** @type {HTMLInputElement} */ (box).checked = selectAll.checked;
  updateSelection();
});
for (const button of batch.querySelectorAll("button[data-action]")) {
  button.addEventListener("click", () => run(/** @type {string} */ (/** @type {HTMLElement} */ (button).dataset.action),
    state.entries.filter((e) => state.selected.has(e.id))));
}
document.querySelector("[data-page=prev]")?.addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); load(); });
document.querySelector("[data-page=next]")?.addEventListener("click", () => { state.offset += PAGE; load(); });
const settingsForm = /** @type {HTMLFormElement | null} */ (document.getElementById("queue-settings"));
if (settingsForm) {
  settingsForm.addEventListener("submit", (event) => { event.preventDefault(); saveSettings(settingsForm); });
  loadSettings(settingsForm).catch((error) => notify(message, `Could not read the queue settings. ${error.message}`, "error"));
}
load();
