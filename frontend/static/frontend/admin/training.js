// The training page: start a job and follow it live (epoch, loss), the job history with logs,
// model versions with their metrics (promote a candidate, roll back to an older version), and
// the retraining schedule, and the live workers with the device each computes on.

import { h, notify, pill, fixed, when, projectId } from "./dom.js";
import { api } from "./http.js";
import { deviceText, queuesText } from "./workers.js";

const POLL_MS = 2000;
const WORKERS_POLL_MS = 5 * POLL_MS;  // each look waits a second for the workers' answers
const project = projectId();
const message = /** @type {HTMLElement} */ (document.getElementById("training-message"));
const current = /** @type {HTMLElement} */ (document.getElementById("current-job"));
const jobsBody = /** @type {HTMLElement} */ (document.querySelector("#jobs tbody"));
const versionsBody = /** @type {HTMLElement} */ (document.querySelector("#versions tbody"));
const workersBody = /** @type {HTMLElement} */ (document.querySelector("#workers tbody"));
const jobForm = /** @type {HTMLFormElement} */ (document.getElementById("job-form"));
const retrainForm = /** @type {HTMLFormElement} */ (document.getElementById("retraining-form"));
const ACTIVE = ["queued", "running"];
// The model's jobs only (the page says which kinds): uploads and exports are followed on their pages.
const jobKinds = new URLSearchParams((document.getElementById("jobs")?.dataset.kinds ?? "").split(",")
  .filter(Boolean).map((kind) => ["kind", kind])).toString();
let followed = /** @type {number | null} */ (null);
let timer = 0;

// ---- jobs ---------------------------------------------------------------------------------------

async function loadJobs() {
  const jobs = await api(`/api/projects/${project}/jobs/?${jobKinds}`);
  jobsBody.replaceChildren(...(jobs.length ? jobs.map(jobRow) : [h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No jobs yet."))]));
  const running = jobs.find((j) => ACTIVE.includes(j.status));
  if (running && followed === null) follow(running.id);
  return jobs;
}

function jobRow(job) {
  const logCell = h("td", {}, h("button", { type: "button", onclick: (e) => toggleLog(job.id, e.currentTarget) }, "Log"));
  return h("tr", { dataset: { job: String(job.id) } },
    h("td", {}, `#${job.id}`), h("td", {}, job.kind), h("td", {}, pill(job.status)), h("td", {}, job.trigger),
    h("td", {}, job.model_version_number ? `v${job.model_version_number}` : "–"),
    h("td", {}, when(job.started_at)), h("td", {}, when(job.finished_at)), logCell);
}

/** Show a job's log (and error) under its row. @param {number} jobId @param {HTMLElement} button */
async function toggleLog(jobId, button) {
  const tr = /** @type {HTMLElement} */ (button.closest("tr"));
  const next = tr.nextElementSibling;
  if (next?.classList.contains("log-row")) {
    next.remove();
    return;
  }
  try {
    const job = await api(`/api/jobs/${jobId}/`);
    const text = [job.log || "(no log lines)", job.error ? `\nERROR: ${job.error}` : ""].join("");
    tr.after(h("tr", { class: "log-row" }, h("td", { colspan: 8 }, h("pre", { class: "log" }, text))));
  } catch (error) {
    notify(message, `Could not read the log. ${error.message}`, "error");
  }
}

/** Poll one job and draw its progress until it ends. @param {number} jobId */
function follow(jobId) {
  followed = jobId;
  clearTimeout(timer);
  const tick = async () => {
    let job;
    try {
      job = await api(`/api/jobs/${jobId}/`);
    } catch (error) {
      notify(message, `Lost track of job #${jobId}. ${error.message}`, "warning");
      timer = window.setTimeout(tick, POLL_MS * 3);
      return;
    }
    drawProgress(job);
    if (ACTIVE.includes(job.status)) {
      timer = window.setTimeout(tick, POLL_MS);
      return;
    }
    followed = null;
    await Promise.all([loadJobs(), loadVersions()]);
    notify(message, `Job #${job.id} ${job.status}.${job.error ? ` ${job.error}` : ""}`, job.status === "succeeded" ? "ok" : "warning");
  };
  tick();
}

/** @param {any} job */
function drawProgress(job) {
  const p = job.progress ?? {};
  const total = p.n_epochs ?? p.total;
  const done = p.epoch ?? p.done;
  const fraction = total ? Math.min(1, (done ?? 0) / total) : null;
  current.hidden = false;
  current.querySelector("[data-role=title]").textContent = `Job #${job.id}: ${job.kind}`;
  current.querySelector("[data-role=state]").textContent = job.status + (job.cancel_requested ? " (cancelling)" : "");
  const bar = /** @type {HTMLElement} */ (current.querySelector(".progress"));
  bar.classList.toggle("indeterminate", fraction === null && ACTIVE.includes(job.status));
  bar.setAttribute("aria-valuenow", String(Math.round((fraction ?? 0) * 100)));
  /** @type {HTMLElement} */ (bar.firstElementChild).style.width = `${Math.round((fraction ?? (ACTIVE.includes(job.status) ? 0 : 1)) * 100)}%`;
  const parts = [];
  if (p.epoch !== undefined) parts.push(`epoch ${p.epoch} of ${p.n_epochs ?? "?"}`);
  else if (done !== undefined && total) parts.push(`${done} of ${total}`);
  if (p.loss !== undefined) parts.push(`loss ${fixed(p.loss, 4)}`);
  if (p.val_loss !== undefined && p.val_loss !== null) parts.push(`validation loss ${fixed(p.val_loss, 4)}`);
  if (!parts.length) parts.push(job.status === "queued" ? "waiting for a worker" : "starting");
  current.querySelector("[data-role=detail]").textContent = parts.join(" · ");
  const cancel = /** @type {HTMLButtonElement} */ (current.querySelector("[data-role=cancel]"));
  cancel.hidden = !ACTIVE.includes(job.status);
  cancel.onclick = () => cancelJob(job.id);
}

/** @param {number} jobId */
async function cancelJob(jobId) {
  try {
    await api(`/api/jobs/${jobId}/cancel/`, { method: "POST" });
    notify(message, `Asked job #${jobId} to stop.`, "info");
  } catch (error) {
    notify(message, `Could not cancel. ${error.message}`, "error");
  }
}

async function startJob() {
  const kind = /** @type {HTMLSelectElement} */ (jobForm.elements.namedItem("kind")).value;
  try {
    const job = await api(`/api/projects/${project}/jobs/`, { method: "POST", body: { kind } });
    follow(job.id);
    await loadJobs();
    notify(message, `Job #${job.id} queued.`, "ok");
  } catch (error) {
    notify(message, `Not started. ${error.message}`, "error");
  }
}

// ---- model versions -------------------------------------------------------------------------------

async function loadVersions() {
  const versions = await api(`/api/projects/${project}/model-versions/`);
  const hasActive = versions.some((v) => v.status === "active");
  versionsBody.replaceChildren(...(versions.length ? versions.map((v) => versionRow(v, hasActive))
    : [h("tr", {}, h("td", { colspan: 9, class: "empty" }, "No model versions yet: train one, or upload weights through the API."))]));
}

function versionRow(v, hasActive) {
  const m = v.metrics ?? {};
  const actions = h("td", { class: "row-actions" });
  if (v.status !== "active" && v.weights_url) {
    const word = v.status === "candidate" || !hasActive ? "Promote" : "Roll back to this";
    actions.append(h("button", { type: "button", onclick: () => promote(v, word) }, word), " ");
  }
  actions.append(v.weights_url ? h("a", { href: v.weights_url }, "weights") : h("span", { class: "muted" }, "no weights"));
  if (m.ap50 !== undefined && m.ap50 !== null) {
    actions.append(" ", h("a", { href: `/projects/${project}/versions/${v.id}/report/`, class: "report" }, "report"));
  }
  return h("tr", { dataset: { version: String(v.number) } },
    h("td", {}, h("b", {}, `v${v.number}`), v.parent_number ? h("span", { class: "muted" }, ` from v${v.parent_number}`) : null),
    h("td", {}, pill(v.status)), h("td", {}, v.origin),
    h("td", { class: "num" }, `${v.n_train_crops} crops, ${v.n_train_cells} cells`),
    h("td", { class: "num" }, fixed(m.ap50)), h("td", { class: "num" }, fixed(m.ap75)), h("td", { class: "num" }, fixed(m.ap90)),
    h("td", {}, when(v.created_at)), actions);
}

async function promote(version, word) {
  if (!window.confirm(`${word}: make version ${version.number} the active model? The waiting crops are then predicted again with it.`)) return;
  try {
    await api(`/api/model-versions/${version.id}/promote/`, { method: "POST" });
    await Promise.all([loadVersions(), loadJobs()]);
    notify(message, `Version ${version.number} is now active; a prediction job was queued.`, "ok");
  } catch (error) {
    notify(message, `Not changed. ${error.message}`, "error");
  }
}

// ---- workers ------------------------------------------------------------------------------------------

async function loadWorkers() {
  let workers;
  try {
    workers = await api("/api/workers/");
  } catch (error) {
    workersBody.replaceChildren(h("tr", {}, h("td", { colspan: 3, class: "empty" }, `Could not ask the workers. ${error.message}`)));
    return;
  } finally {
    window.setTimeout(loadWorkers, WORKERS_POLL_MS);
  }
  workersBody.replaceChildren(...(workers.length
    ? workers.map((w) => h("tr", { dataset: { worker: w.name } },
      h("td", {}, w.name), h("td", {}, deviceText(w.device)), h("td", {}, queuesText(w.queues))))
    : [h("tr", {}, h("td", { colspan: 3, class: "empty" }, "No worker answered: jobs wait in the queue until one runs."))]));
}

// ---- retraining schedule ------------------------------------------------------------------------------

async function loadRetraining() {
  const settings = await api(`/api/projects/${project}/retraining/`);
  /** @type {HTMLInputElement} */ (retrainForm.elements.namedItem("schedule")).value = settings.schedule ?? "";
  /** @type {HTMLInputElement} */ (retrainForm.elements.namedItem("after_annotations")).value = String(settings.after_annotations);
}

async function saveRetraining() {
  const schedule = /** @type {HTMLInputElement} */ (retrainForm.elements.namedItem("schedule")).value.trim();
  const after = Number(/** @type {HTMLInputElement} */ (retrainForm.elements.namedItem("after_annotations")).value || 0);
  const saved = /** @type {HTMLElement} */ (retrainForm.querySelector("[data-role=saved]"));
  try {
    await api(`/api/projects/${project}/retraining/`, { method: "PUT", body: { schedule: schedule || null, after_annotations: after } });
    await loadRetraining();
    saved.textContent = "Saved.";
  } catch (error) {
    saved.textContent = "";
    notify(message, `Schedule not saved. ${error.message}`, "error");
  }
}

jobForm.addEventListener("submit", (event) => { event.preventDefault(); startJob(); });
retrainForm.addEventListener("submit", (event) => { event.preventDefault(); saveRetraining(); });
loadWorkers();
Promise.all([loadJobs(), loadVersions(), loadRetraining()])
  .catch((error) => notify(message, `Could not load this page's data. ${error.message}`, "error"));
