// The Sweeps page: start a settings search or a subsample study, list the project's sweeps, and
// follow one live: its trials, the best objective so far, the parameter importances; cancel,
// resume, adopt the best settings. Words and geometry come from sweep_view.js.

import { h, notify, pill, fixed, when, projectId } from "./dom.js";
import { api } from "./http.js";
import { bestSoFarGeometry, durationText, importanceRows, numberList, paramsText } from "./sweep_view.js";

const POLL_MS = 3000;
const SVG = "http://www.w3.org/2000/svg";
const ACTIVE = ["running", "finishing"];
const project = projectId();
const message = /** @type {HTMLElement} */ (document.getElementById("sweeps-message"));
const form = /** @type {HTMLFormElement} */ (document.getElementById("sweep-form"));
const listBody = /** @type {HTMLElement} */ (document.querySelector("#sweeps tbody"));
const panel = /** @type {HTMLElement} */ (document.getElementById("sweep"));
const trialsBody = /** @type {HTMLElement} */ (document.querySelector("#trials tbody"));
const chart = /** @type {SVGSVGElement} */ (/** @type {unknown} */ (document.getElementById("best-so-far")));
const importancesBody = /** @type {HTMLElement} */ (document.querySelector("#importances tbody"));
const role = (name) => /** @type {HTMLElement} */ (panel.querySelector(`[data-role="${name}"]`));
let shown = /** @type {number | null} */ (null);
let timer = 0;

// ---- starting ---------------------------------------------------------------------------------------

function showKindFields() {
  const kind = /** @type {HTMLSelectElement} */ (form.elements.namedItem("kind")).value;
  for (const el of form.querySelectorAll("[data-for]")) /** @type {HTMLElement} */ (el).hidden = el.getAttribute("data-for") !== kind;
}

async function fillDefaultSpace() {
  const space = await api(`/api/projects/${project}/sweeps/search-space/`);
  /** @type {HTMLTextAreaElement} */ (form.elements.namedItem("search_space")).value = JSON.stringify(space.default, null, 2);
}

/** The form as the API's request body, or a problem to show. */
function requestBody() {
  const value = (name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name)).value;
  const body = { kind: value("kind"), parallel: Number(value("parallel")) };
  if (body.kind === "search") {
    let space;
    try {
      space = value("search_space").trim() ? JSON.parse(value("search_space")) : {};
    } catch (error) {
      return { problem: `The search space is not valid JSON: ${error.message}` };
    }
    return { body: { ...body, n_trials: Number(value("n_trials")), search_space: space } };
  }
  const fractions = numberList(value("fractions")), seeds = numberList(value("seeds"));
  if (!fractions || !seeds) return { problem: "Shares and seeds must be lists of numbers." };
  return { body: { ...body, fractions, seeds } };
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const { body, problem } = requestBody();
  if (problem) return notify(message, problem, "error");
  try {
    const sweep = await api(`/api/projects/${project}/sweeps/`, { method: "POST", body });
    notify(message, `Sweep #${sweep.id} started: its first trials are queued.`, "ok");
    await loadList();
    show(sweep.id);
  } catch (error) {
    notify(message, `Could not start the sweep. ${error.message}`, "error");
  }
});

// ---- the list -----------------------------------------------------------------------------------------

async function loadList() {
  const sweeps = await api(`/api/projects/${project}/sweeps/`);
  listBody.replaceChildren(...(sweeps.length ? sweeps.map(listRow) : [h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No sweeps yet."))]));
  if (shown === null && sweeps.length) show(sweeps[0].id);
}

function listRow(sweep) {
  const best = sweep.kind === "search" ? sweep.result?.best_trial : null;
  return h("tr", { dataset: { sweep: String(sweep.id) }, class: "clickable", onclick: () => show(sweep.id) },
    h("td", {}, `#${sweep.id}`), h("td", {}, sweep.kind), h("td", {}, pill(sweep.status)),
    h("td", { class: "num" }, `${sweep.n_launched}/${sweep.n_trials}`),
    h("td", { class: "num" }, best === null || best === undefined ? "–" : `trial ${best}`), h("td", {}, when(sweep.created_at)));
}

// ---- one sweep -----------------------------------------------------------------------------------------

/** Show a sweep and poll it while it runs. @param {number} sweepId */
function show(sweepId) {
  shown = sweepId;
  clearTimeout(timer);
  const tick = async () => {
    try {
      const sweep = await api(`/api/sweeps/${sweepId}/`);
      if (shown !== sweepId) return;
      draw(sweep);
      if (ACTIVE.includes(sweep.status)) timer = window.setTimeout(tick, POLL_MS);
      else loadList();
    } catch (error) {
      notify(message, `Lost track of sweep #${sweepId}. ${error.message}`, "warning");
    }
  };
  tick();
}

function draw(sweep) {
  panel.hidden = false;
  panel.dataset.sweep = String(sweep.id);
  role("title").textContent = `Sweep #${sweep.id}: ${sweep.kind === "search" ? "settings search" : "subsample study"}`;
  const done = sweep.trials.filter((t) => t.state !== "running").length;
  role("state").replaceChildren(pill(sweep.status), ` ${done} of ${sweep.n_trials} trials ended${sweep.error ? ` · ${sweep.error}` : ""}`);
  role("cancel").hidden = !ACTIVE.includes(sweep.status);
  role("resume").hidden = sweep.status === "succeeded" || (ACTIVE.includes(sweep.status) && sweep.trials.some((t) => t.state === "running"));
  role("adopt").hidden = sweep.kind !== "search" || sweep.best_trial === null;
  role("result").textContent = resultText(sweep);
  drawTrials(sweep);
  drawCurve(sweep.best_so_far);
  drawImportances(sweep);
}

function resultText(sweep) {
  if (sweep.kind === "subsample") return sweep.result?.answer ? `The next ${sweep.result.next_cells} labelled cells: ${sweep.result.answer}.` : "";
  if (sweep.best_trial === null) return "";
  const best = sweep.trials.find((t) => t.number === sweep.best_trial);
  const verdict = sweep.result?.candidate_number
    ? ` It became version ${sweep.result.candidate_number}, ${sweep.result.promoted ? "promoted" : "not promoted (not better than the active version)"}.`
    : "";
  return `Best: trial ${best.number}, AP@0.5 ${fixed(best.ap50)} (AP@0.75 ${fixed(best.ap75)}): ${paramsText(best.params)}.${verdict}`;
}

function drawTrials(sweep) {
  const rows = sweep.trials.map((t) => h("tr", { dataset: { trial: String(t.number) }, class: t.number === sweep.best_trial ? "best" : null },
    h("td", {}, `${t.number}${t.number === sweep.best_trial ? " ★" : ""}`), h("td", {}, pill(t.state, t.state === "complete" ? "succeeded" : t.state === "pruned" ? "cancelled" : t.state)),
    h("td", {}, paramsText(t.params)), h("td", { class: "num" }, fixed(t.ap50)), h("td", { class: "num" }, fixed(t.ap75)),
    h("td", { class: "num" }, t.state === "running" && t.progress?.epoch ? `${t.progress.epoch}/${t.progress.n_epochs}` : String(t.epochs_run)),
    h("td", { class: "num" }, durationText(t.duration_s))));
  trialsBody.replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No trial has started yet."))]));
}

/** @param {string} tag @param {Record<string, string | number>} attrs @param {string} [text] */
function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function drawCurve(curve) {
  const g = bestSoFarGeometry(curve);
  if (!g.dots.length) {
    chart.replaceChildren(svg("text", { x: 240, y: 110, "text-anchor": "middle", class: "label" }, "No completed trial yet."));
    return;
  }
  chart.replaceChildren(
    ...g.yTicks.flatMap((t) => [svg("line", { class: "grid", x1: g.left, x2: g.right, y1: t.y, y2: t.y }),
      svg("text", { class: "tick", x: g.left - 6, y: t.y, "text-anchor": "end", "dominant-baseline": "middle" }, t.label)]),
    ...g.xTicks.map((t) => svg("text", { class: "tick", x: t.x, y: g.bottom + 16, "text-anchor": "middle" }, t.label)),
    svg("line", { class: "axis", x1: g.left, x2: g.right, y1: g.bottom, y2: g.bottom }),
    svg("text", { class: "label", x: g.right, y: g.bottom + 28, "text-anchor": "end" }, "completed trials"),
    svg("polyline", { class: "curve", points: g.steps }),
    ...g.dots.map((d) => {
      const dot = svg("g", { class: `point${d.best ? " active" : ""}` });
      dot.append(svg("circle", { cx: d.x, cy: d.y, r: 4.5 }));
      dot.firstChild?.appendChild(svg("title", {}, `trial ${d.number}: ${d.value.toFixed(3)}`));
      return dot;
    }),
  );
}

function drawImportances(sweep) {
  const rows = importanceRows(sweep.importances);
  importancesBody.replaceChildren(...rows.map((r) => {
    const bar = h("span", { class: "bar" });
    bar.style.width = `${r.width}px`;  // through the CSSOM: the CSP refuses style attributes
    return h("tr", {}, h("th", {}, r.name), h("td", {}, bar), h("td", { class: "num" }, fixed(r.share, 2)));
  }));
  role("importances-note").textContent = sweep.kind !== "search"
    ? "A subsample study varies the labelled crops, not the settings."
    : rows.length ? "Optuna's estimate of how much each setting moved the objective (shares add to 1)."
      : "Shown from five completed trials with varied settings: with fewer, every setting looks equally important.";
}

for (const [name, call, done] of [
  ["cancel", "cancel", "cancelled"], ["resume", "resume", "resumed"], ["adopt", "adopt", "adopted: they are now the project's settings"],
]) {
  role(name).addEventListener("click", async () => {
    const id = Number(panel.dataset.sweep);
    try {
      await api(`/api/sweeps/${id}/${call}/`, { method: "POST" });
      notify(message, `Sweep #${id} ${done}.`, "ok");
      show(id);
      loadList();
    } catch (error) {
      notify(message, `Could not ${name} sweep #${id}. ${error.message}`, "error");
    }
  });
}

form.elements.namedItem("kind")?.addEventListener("change", showKindFields);
showKindFields();
fillDefaultSpace().catch((error) => notify(message, `Could not read the default search space. ${error.message}`, "warning"));
loadList().catch((error) => notify(message, `Could not list the sweeps. ${error.message}`, "error"));
