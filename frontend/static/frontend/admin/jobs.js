// Background jobs as the Upload and Export pages show them (ingest, import, export): the words for
// a job's progress and result, the polling schedule, and the field errors of a refused request.
// No DOM here; following a job takes the fetch and the clock as arguments.

/** The statuses of a job that has not ended. */
export const ACTIVE = ["queued", "running"];

/** @param {any} job */
export function isActive(job) {
  return ACTIVE.includes(job.status);
}

/** @param {number} n @param {string} one @param {string} [many] */
export function count(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * A running job's progress in a few words: "tiling: 3 of 12", "storing", "waiting for a worker".
 * Any of the progress keys may be missing while the job starts.
 * @param {any} job
 */
export function progressText(job) {
  if (job.status === "queued") return job.cancel_requested ? "cancelling…" : "waiting for a worker…";
  if (job.status !== "running") return job.status;
  const p = job.progress ?? {};
  const parts = [];
  if (p.stage) parts.push(String(p.stage));
  if (Number.isFinite(p.done) && Number.isFinite(p.total) && p.total > 0) parts.push(`${p.done} of ${p.total}`);
  const text = parts.length ? parts.join(": ") : "starting…";
  return job.cancel_requested ? `${text} (cancelling)` : text;
}

/** How long an ended job ran, "took 4 s" ("" when it never started or has not ended). @param {any} job */
export function tookText(job) {
  if (!job.started_at || !job.finished_at) return "";
  const seconds = Math.max(0, (new Date(job.finished_at).getTime() - new Date(job.started_at).getTime()) / 1000);
  if (seconds < 1) return "took under a second";
  return `took ${seconds < 90 ? `${Math.round(seconds)} s` : `${(seconds / 60).toFixed(1)} min`}`;
}

/** The share done, 0..1, or null when the job has not said. @param {any} job */
export function progressFraction(job) {
  if (job.status === "succeeded") return 1;
  const p = job.progress ?? {};
  if (!Number.isFinite(p.done) || !Number.isFinite(p.total) || p.total <= 0) return null;
  return Math.max(0, Math.min(1, p.done / p.total));
}

/**
 * The milliseconds to wait before asking about a job again: about a second, a little longer with
 * each answer that showed no change (a slow stage), never more than `most`.
 * @param {number} unchanged answers in a row without change @param {number} [most]
 */
export function pollDelay(unchanged, most = 4000) {
  return Math.round(Math.min(most, 1000 * 1.25 ** Math.max(0, unchanged)));
}

/**
 * Poll a job until it ends. `get(id)` fetches the job; a failed fetch is retried later (the
 * job runs on without the page) and reported through `onError`.
 * @param {number} jobId
 * @param {{get: (id: number) => Promise<any>, onUpdate?: (job: any) => void, onError?: (error: any) => void,
 *          sleep?: (ms: number) => Promise<void>, first?: any, stopped?: () => boolean}} how
 * @returns {Promise<any>} the ended job (or the last one seen, when `stopped` says so)
 */
export async function followJob(jobId, { get, onUpdate = () => {}, onError = () => {}, sleep = wait, first, stopped = () => false }) {
  let job = first ?? null;
  let unchanged = 0;
  let seen = job ? JSON.stringify([job.status, job.progress]) : "";
  if (job) onUpdate(job);
  while (!job || isActive(job)) {
    if (job) await sleep(pollDelay(unchanged));
    if (stopped()) return job;
    try {
      job = await get(jobId);
    } catch (error) {
      onError(error);
      unchanged += 2;
      if (!job) await sleep(pollDelay(unchanged));
      continue;
    }
    const now = JSON.stringify([job.status, job.progress]);
    unchanged = now === seen ? unchanged + 1 : 0;
    seen = now;
    onUpdate(job);
  }
  return job;
}

/** @param {number} ms */
function wait(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether an answer to a POST is a queued job (202) rather than a finished result. @param {any} answer */
export function isJob(answer) {
  return Boolean(answer && typeof answer === "object" && "status" in answer && "kind" in answer && "id" in answer);
}

/** Why a job did not succeed, in one sentence. @param {any} job */
export function failureText(job) {
  if (job.status === "cancelled") return "Cancelled.";
  return job.error || `The job ${job.status}.`;
}

// ---- results ----------------------------------------------------------------------------------

/** An ingested image's result: {image, name, created, crops, imported_annotations}. @param {any} result */
export function ingestText(result) {
  if (!result.created) return `already in the project (${count(result.crops, "crop")})`;
  const labelled = result.imported_annotations ? `, ${result.imported_annotations} labelled from the label image` : "";
  return `added: ${count(result.crops, "crop")}${labelled}`;
}

/** An import report (annotations.imports.ImportReport.to_dict) in one line. @param {any} report */
export function importText(report) {
  const parts = [];
  const images = [];
  if (report.images_created) images.push(`${count(report.images_created, "image")} added`);
  if (report.images_existing) images.push(`${report.images_existing} already in the project`);
  parts.push(images.length ? images.join(", ") : "no images");
  if (report.mode === "predictions") {
    const version = report.model_version ? ` as model version v${report.model_version}` : "";
    parts.push(`${count(report.predictions ?? 0, "prediction")}${version}`);
  } else {
    parts.push(count(report.annotations ?? 0, "annotation"));
  }
  parts.push(count(report.cells ?? 0, "cell"));
  const dropped = report.dropped_objects?.length ?? 0;
  if (dropped) parts.push(`${count(dropped, "object")} dropped`);
  if (report.crowd_annotations_skipped) parts.push(`${count(report.crowd_annotations_skipped, "crowd annotation")} skipped`);
  if (report.contested_pixels) parts.push(`${count(report.contested_pixels, "contested pixel")}`);
  return parts.join(" · ");
}

/** The import format a bundle's file name suggests, or "" to leave the choice as it is. @param {string} name */
export function guessFormat(name) {
  const lower = name.toLowerCase();
  if (lower.endsWith(".geojson")) return "geojson";
  if (lower.endsWith(".json")) return "coco";
  return "";
}

/** What an export holds, in one line, from its result's counts (the manifest's). @param {any} result */
export function exportContents(result) {
  const counts = result?.counts ?? result?.manifest?.counts ?? {};
  const parts = [];
  if (Number.isFinite(counts.images)) parts.push(count(counts.images, "image"));
  if (Number.isFinite(counts.annotations)) parts.push(count(counts.annotations, "annotation"));
  if (Number.isFinite(counts.cells_in_crops)) parts.push(count(counts.cells_in_crops, "cell"));
  return parts.join(", ");
}

/** Whether an export's file is gone (deleted by the server, or past its time at `now`). @param {any} result @param {Date} [now] */
export function expired(result, now = new Date()) {
  if (result?.expired) return true;
  return Boolean(result?.expires_at) && new Date(result.expires_at).getTime() <= now.getTime();
}

// ---- the export form ----------------------------------------------------------------------------

/**
 * The export request's JSON body from the form's values: the option names of
 * annotations/api/export_serializers.py; empty fields are left out (the server's defaults).
 * @param {{formats: string[], split?: string, tag?: string, since?: string, until?: string,
 *          current_only?: boolean, images?: boolean, model?: string}} values
 */
export function exportBody(values) {
  /** @type {Record<string, any>} */
  const body = { format: values.formats.join(",") };
  for (const name of ["split", "tag", "since", "until", "model"]) {
    const value = (values[name] ?? "").trim();
    if (value) body[name] = value;
  }
  if (values.current_only !== undefined) body.current_only = values.current_only;
  if (values.images !== undefined) body.images = values.images;
  return body;
}

/**
 * A refused request's problems by field, and what belongs to no field. Takes DRF's shape
 * ({"split": ["..."], "non_field_errors": [...]}) and the domain errors' ({"detail", "code",
 * "fields": {...}}); a bare detail that starts with the name of one of the `known` fields
 * ("split must be one of ...") is that field's.
 * @param {any} json @param {string[]} [known]
 * @returns {{fields: Record<string, string[]>, general: string[]}}
 */
export function fieldErrors(json, known = []) {
  /** @type {Record<string, string[]>} */
  const fields = {};
  const general = [];
  if (!json || typeof json !== "object") return { fields, general };
  const source = json.fields && typeof json.fields === "object" ? json.fields : json;
  for (const [name, value] of Object.entries(source)) {
    if (["detail", "code", "fields"].includes(name)) continue;
    const messages = (Array.isArray(value) ? value : [value]).map((m) => (typeof m === "string" ? m : JSON.stringify(m)));
    if (name === "non_field_errors") general.push(...messages);
    else fields[name] = messages;
  }
  if (typeof json.detail === "string" && !Object.keys(fields).length) {
    const named = known.find((name) => new RegExp(`^${name}\\b`).test(json.detail));
    if (named) fields[named] = [json.detail];
    else general.push(json.detail);
  }
  return { fields, general };
}
