// The Export page: start an export job (POST /api/projects/{id}/export/ with the options as JSON),
// and list the project's recent export jobs (GET /api/projects/{id}/jobs/?kind=export), polled
// while one runs: progress, size, expiry, a Download link once done, Cancel meanwhile.

import { h, notify, pill, size, when, projectId } from "./dom.js";
import { api } from "./http.js";
import { expired, exportBody, exportContents, failureText, fieldErrors, isActive, pollDelay, progressFraction, progressText, tookText } from "./jobs.js";

const project = projectId();
const message = /** @type {HTMLElement} */ (document.getElementById("export-message"));
const form = /** @type {HTMLFormElement} */ (document.getElementById("export-form"));
const listBody = /** @type {HTMLElement} */ (document.querySelector("#exports tbody"));
const submit = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
let timer = 0;
let unchanged = 0;
let seen = "";
/** The exports that were running at the last look: told about when they end. */
let watched = new Set();

// ---- the form ---------------------------------------------------------------------------------------

function formValues() {
  const input = (/** @type {string} */ name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name));
  return {
    formats: [...form.querySelectorAll("input[name=format]:checked")].map((el) => /** @type {HTMLInputElement} */ (el).value),
    split: input("split").value, tag: input("tag").value, since: input("since").value, until: input("until").value,
    current_only: input("current_only").checked, images: input("images").checked, model: input("model").value,
  };
}

function clearProblems() {
  for (const el of form.querySelectorAll("ul.problems")) el.remove();
  for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
}

/** Each refused field's messages beside it; the rest in the page's message. @param {any} json @param {string} fallback */
function showProblems(json, fallback) {
  const known = [...form.querySelectorAll("[data-field]")].map((el) => /** @type {HTMLElement} */ (el).dataset.field ?? "");
  const { fields, general } = fieldErrors(json, known);
  for (const [name, messages] of Object.entries(fields)) {
    const place = form.querySelector(`[data-field="${name}"]`);
    if (!place) {
      general.push(...messages.map((m) => `${name}: ${m}`));
      continue;
    }
    place.classList.add("invalid");
    const list = h("ul", { class: "problems", dataset: { for: name } }, ...messages.map((m) => h("li", {}, m)));
    // Under the field, or under its row of fields (which keeps its layout).
    (place.closest(".row") ?? place).after(list);
  }
  const shown = Object.keys(fields).length > 0;
  notify(message, general.length ? `Not started. ${general.join(" ")}` : shown ? "Not started: see the problems beside the form." : `Not started. ${fallback}`, "error");
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearProblems();
  const values = formValues();
  if (!values.formats.length && !values.model) {
    return showProblems({ format: ["Choose at least one format, or a model to export."] }, "");
  }
  submit.disabled = true;
  try {
    const job = await api(`/api/projects/${project}/export/`, { method: "POST", body: exportBody(values) });
    notify(message, `Export #${job.id} queued: it appears below, with a Download link when it is written.`, "ok");
    await refresh();
  } catch (error) {
    if (error.status === 400) showProblems(error.body, error.message);
    else notify(message, `Not started. ${error.message}`, "error");
  } finally {
    submit.disabled = false;
  }
});

// ---- the list -----------------------------------------------------------------------------------------

/** @param {any} job */
function progressCell(job) {
  if (!isActive(job)) return h("td", { class: "muted" }, tookText(job));
  const fraction = progressFraction(job);
  const bar = /** @type {HTMLProgressElement} */ (h("progress", { max: 1 }));
  if (fraction !== null) bar.value = fraction;  // without a value the bar shows "busy"
  return h("td", {}, bar, " ", h("span", { class: "muted" }, progressText(job)));
}

/** @param {any} job */
function jobRow(job) {
  const result = job.status === "succeeded" ? job.result ?? {} : null;
  const gone = result ? expired(result) : false;
  const actions = h("td", { class: "row-actions" });
  if (isActive(job)) {
    actions.append(h("button", { type: "button", disabled: job.cancel_requested, onclick: () => cancel(job.id) },
      job.cancel_requested ? "Cancelling…" : "Cancel"));
  } else if (result?.download && !gone) {
    actions.append(h("a", { class: "button", href: result.download, download: result.file_name ?? "" }, "Download"));
  }
  let contents = "–";
  if (result) contents = exportContents(result) || "–";
  const status = h("td", {}, pill(job.status));
  if (job.status === "failed" || job.status === "cancelled") {
    status.append(" ", h("span", { class: job.status === "failed" ? "error-text" : "muted" }, failureText(job)));
  }
  return h("tr", { dataset: { job: String(job.id), status: job.status } },
    h("td", {}, `#${job.id}`, h("div", { class: "muted small" }, optionsText(job.params?.options ?? {}))),
    h("td", {}, when(job.created_at)), status, progressCell(job),
    h("td", {}, contents), h("td", { class: "num" }, result && Number.isFinite(result.size) ? size(result.size) : "–"),
    h("td", {}, result ? (gone ? h("span", { class: "muted" }, "expired") : when(result.expires_at)) : "–"), actions);
}

/** The options an export was asked with, briefly: "cellpose, coco · train · tag hard". @param {any} options */
function optionsText(options) {
  const parts = [String(options.format ?? options.formats ?? "").split(",").filter(Boolean).join(", ") || "no annotations"];
  if (options.split) parts.push(options.split);
  if (options.tag) parts.push(`tag ${options.tag}`);
  if (options.since || options.until) parts.push(`${options.since ?? "…"} to ${options.until ?? "…"}`);
  if (options.model) parts.push(`model ${options.model}`);
  return parts.join(" · ");
}

let reading = /** @type {Promise<void> | null} */ (null);

/** Read the list again (one read at a time: a call during a read waits for it, then reads). */
async function refresh() {
  while (reading) await reading;
  reading = readList();
  try {
    await reading;
  } finally {
    reading = null;
  }
}

async function readList() {
  clearTimeout(timer);
  let jobs;
  try {
    jobs = await api(`/api/projects/${project}/jobs/?kind=export`);
  } catch (error) {
    notify(message, `Could not read the exports. ${error.message}`, "warning");
    timer = window.setTimeout(refresh, pollDelay(8));
    return;
  }
  // The kind filter is the server's; a server without it answers every job.
  jobs = jobs.filter((/** @type {any} */ j) => j.kind === "export");
  listBody.replaceChildren(...(jobs.length ? jobs.map(jobRow)
    : [h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No exports yet."))]));
  const running = jobs.filter(isActive);
  for (const job of jobs) {
    if (!watched.has(job.id) || isActive(job)) continue;
    notify(message, job.status === "succeeded" ? `Export #${job.id} is ready: ${job.result?.file_name ?? "download it below"}.`
      : `Export #${job.id} ${job.status}. ${failureText(job)}`, job.status === "succeeded" ? "ok" : "warning");
  }
  watched = new Set(running.map((j) => j.id));
  if (!running.length) return;
  const now = JSON.stringify(running.map((j) => [j.id, j.status, j.progress]));
  unchanged = now === seen ? unchanged + 1 : 0;
  seen = now;
  timer = window.setTimeout(refresh, pollDelay(unchanged));
}

/** @param {number} jobId */
async function cancel(jobId) {
  try {
    await api(`/api/jobs/${jobId}/cancel/`, { method: "POST" });
    notify(message, `Asked export #${jobId} to stop.`, "info");
  } catch (error) {
    notify(message, `Could not cancel. ${error.message}`, "error");
  }
  await refresh();
}

refresh();
// Re-read on coming back to the tab: a file may have expired meanwhile.
document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
