// The one module that knows the REST API's URLs and JSON shapes. Everything else in the editor
// works with the types below; when the API changes, only this file changes.
//
// As annotations/api/ serves them (read leniently while that API settles):
//   POST /api/projects/{id}/next/       -> 200 crop JSON (below), or 204 when the queue is empty
//   POST /api/crops/{id}/lease/         -> 200 crop JSON: lease (again) a crop, e.g. after a lease ran out
//   POST /api/crops/{id}/skip/          -> 204 (the crop goes back to the queue)
//   POST /api/crops/{id}/release/       -> 204 (give the lease back; a labelled crop stays labelled)
//   POST /api/crops/{id}/annotations/   <- {"mask": RLE, "seconds_spent", "edit_counts", "started_from"} -> 201
//   POST /api/crops/{id}/propose/       <- {"mode": "point", "x", "y"} | {"mode": "box", "box": [x0, y0, x1, y1]} |
//                                          {"mode": "redo", "x", "y", "cell": binary RLE} (crop pixels)
//                                       -> 200 {"mask": RLE of proposed cells 1..k, "cells": k, "model_version",
//                                          "method": "flows" | "classical", "message"}; 429 proposal_busy
//   GET  /api/projects/{id}/reviews/?state=&order=&limit=&offset=
//                                       -> 200 {"count", "results": [annotation summary]} (reviewers)
//   POST /api/annotations/{id}/review/  <- {"action": "accept" | "return", "comment"} -> 200 annotation summary;
//                                          400 comment_required; 409 not_current, already_reviewed
//   errors: {"detail": "...", "code": "..."} (annotations/api/errors.py); 409 codes: no_lease,
//           lease_expired (lease it again and resubmit), leased_by_other (someone else has it now)
// Annotation summary:
//   {"id", "crop", "version", "author_name", "n_cells", "edit_counts", "created_at", "prediction_difference"?,
//    "review_state": "submitted" | "accepted" | "corrected" | "returned", "reviewed_by_name", "review_comment"}
// Crop JSON:
//   {"id", "width", "height", "display_url", "image_name"?, "queue_score"?, "queue_reason"?, "rank"?,
//    "lease_expires_at"?, "blind"? (a second, independent label: the first labeller's mask is hidden),
//    "current_annotation": null | {annotation summary, "mask": RLE},
//    "prediction": null | {"mask": RLE, "model_version": {"id", "number"} | id,
//                          "cell_uncertainty"?: {"<cell id>": score},
//                          "possible_missed_cells"?: [[x, y, radius], ...]}}

import { decodeCells, decodeRle, encodeRle } from "./codec.js";

/** @typedef {import("./labelmap.js").LabelMap} LabelMap */

/**
 * @typedef {Object} Prediction
 * @property {LabelMap} labelMap
 * @property {number | null} modelVersionId
 * @property {string} modelVersionName
 * @property {number[]} uncertainCells cells the model is least sure of
 * @property {Place[]} missedPlaces places where the model may have missed a cell, largest first
 */

/**
 * A place in the crop, in image pixels (pixel i spans [i, i + 1)).
 * @typedef {{x: number, y: number, radius: number}} Place
 */

/**
 * An annotation as the review queue lists it (the API's annotation summary).
 * @typedef {Object} ReviewSummary
 * @property {number} id
 * @property {number} cropId
 * @property {number} version
 * @property {string} authorName
 * @property {string | null} createdAt ISO time
 * @property {number | null} nCells
 * @property {number | null} predictionDifference cells changed from the prediction it started from
 * @property {number} actions edits of every kind, summed
 * @property {string} reviewState submitted, accepted, corrected or returned
 * @property {string} reviewedByName
 * @property {string} reviewComment
 */

/**
 * The crop's saved mask, with who saved it and where its review stands.
 * @typedef {ReviewSummary & {labelMap: LabelMap}} SavedAnnotation
 */

/**
 * @typedef {Object} Crop
 * @property {number} id
 * @property {SavedAnnotation | null} currentAnnotation the crop's saved mask, when it has one
 * @property {boolean} blind served for a second, independent label: the first labeller's mask is hidden
 * @property {number} width
 * @property {number} height
 * @property {string} imageUrl
 * @property {string} imageName
 * @property {number | null} rank
 * @property {number | null} score
 * @property {string} reason
 * @property {string | null} leaseExpiresAt
 * @property {Prediction | null} prediction
 */

/**
 * @typedef {Object} Submission
 * @property {LabelMap} labelMap
 * @property {number} secondsSpent
 * @property {Record<string, number>} editCounts
 * @property {number | null} startedFrom model version the prediction came from
 */

/**
 * What the Assist tool asks the model for, in crop pixels (x = column, y = row).
 * @typedef {{mode: "point", x: number, y: number} | {mode: "box", box: number[]} |
 *   {mode: "redo", x: number, y: number, cell: import("./codec.js").RleMask}} ProposalRequest
 */

/** A failed request, with what happened and what the labeller can do, in plain words. */
export class ApiError extends Error {
  name = "ApiError";

  /**
   * @param {"network" | "expired" | "taken" | "auth" | "invalid" | "server" | "not_found"} kind
   *   expired: the lease ran out, lease it again and resubmit; taken: another labeller has the crop
   * @param {string} message what happened
   * @param {string} advice what to do
   * @param {number} [status] HTTP status (0 for network failures)
   * @param {string} [code] the server's error code
   */
  constructor(kind, message, advice, status = 0, code = "") {
    super(message);
    this.kind = kind;
    this.advice = advice;
    this.status = status;
    this.code = code;
  }
}

/**
 * @param {{fetch?: typeof fetch, baseUrl?: string, cookies?: () => string}} [options]
 *   cookies: the document's cookie string (for the CSRF token); tests pass their own
 */
export function createApi({ fetch: fetchImpl = globalThis.fetch.bind(globalThis), baseUrl = "", cookies = () => globalThis.document?.cookie ?? "" } = {}) {
  /** @param {string} method @param {string} path @param {unknown} [body] */
  const call = async (method, path, body) => {
    let response;
    try {
      response = await fetchImpl(baseUrl + path, method === "GET"
        ? { method, credentials: "same-origin", headers: { Accept: "application/json" } }
        : {
          method,
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken(cookies()) },
          body: JSON.stringify(body ?? {}),
        });
    } catch (error) {
      throw new ApiError("network", `Could not reach the server (${errorText(error)}).`,
        "Check your connection, then try again. Your edits are still here.");
    }
    if (!response.ok) throw await failure(response);
    if (response.status === 204) return null;
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  };
  /** @param {string} path @param {unknown} [body] */
  const post = (path, body) => call("POST", path, body);

  return {
    /** The next crop to label, or null when the queue is empty. @param {number | string} projectId @returns {Promise<Crop | null>} */
    async nextCrop(projectId) {
      const json = await post(`/api/projects/${projectId}/next/`);
      const crop = json && "crop" in json ? json.crop : json;
      return crop ? cropFromJson(crop) : null;
    },
    /** @param {number} cropId @param {Submission} submission */
    async submit(cropId, submission) {
      return post(`/api/crops/${cropId}/annotations/`, submissionToJson(submission));
    },
    /** @param {number} cropId */
    async skip(cropId) {
      return post(`/api/crops/${cropId}/skip/`);
    },
    /**
     * The model's cells for a click, a box or a cell to redo (needs the caller's lease).
     * @param {number} cropId @param {ProposalRequest} request @param {{width: number, height: number}} shape the crop's
     * @returns {Promise<import("./proposal.js").Proposal>}
     */
    async propose(cropId, request, shape) {
      return proposalFromJson(await post(`/api/crops/${cropId}/propose/`, request), shape);
    },
    /** Lease this crop (again, after the lease ran out; or to review it). @param {number} cropId @returns {Promise<Crop>} */
    async lease(cropId) {
      return cropFromJson(await post(`/api/crops/${cropId}/lease/`));
    },
    /** Give the lease back. @param {number} cropId */
    async release(cropId) {
      return post(`/api/crops/${cropId}/release/`);
    },
    /**
     * One page of the project's review queue.
     * @param {number | string} projectId
     * @param {{state?: string, order?: string, limit?: number, offset?: number}} [query]
     * @returns {Promise<{count: number, results: ReviewSummary[]}>}
     */
    async reviewQueue(projectId, { state = "submitted", order = "newest", limit = 25, offset = 0 } = {}) {
      const query = new URLSearchParams({ state, order, limit: String(limit), offset: String(offset) });
      const json = await call("GET", `/api/projects/${projectId}/reviews/?${query}`);
      return { count: Number(json?.count ?? 0), results: (json?.results ?? []).map(reviewFromJson) };
    },
    /**
     * Accept an annotation, or return it to its author with a comment.
     * @param {number} annotationId @param {"accept" | "return"} action @param {string} [comment]
     * @returns {Promise<ReviewSummary>}
     */
    async review(annotationId, action, comment = "") {
      return reviewFromJson(await post(`/api/annotations/${annotationId}/review/`, { action, comment }));
    },
  };
}

/** @typedef {ReturnType<typeof createApi>} Api */

/** @param {any} json @returns {Crop} */
export function cropFromJson(json) {
  const width = Number(json.width), height = Number(json.height);
  const prediction = json.prediction;
  const annotation = json.current_annotation;
  return {
    id: json.id,
    currentAnnotation: annotation?.mask
      ? { ...reviewFromJson({ crop: json.id, ...annotation }), labelMap: decodeRle(annotation.mask, { width, height }) } : null,
    blind: json.blind === true,
    width,
    height,
    imageUrl: json.display_url ?? json.image_url,
    imageName: json.image_name ?? "",
    rank: json.rank ?? null,
    score: json.queue_score ?? json.score ?? null,
    reason: json.queue_reason ?? json.reason ?? "",
    leaseExpiresAt: json.lease_expires_at ?? null,
    prediction: prediction ? predictionFromJson(prediction, { width, height }) : null,
  };
}

/** @param {any} json an annotation summary @returns {ReviewSummary} */
export function reviewFromJson(json) {
  const counts = json.edit_counts && typeof json.edit_counts === "object" ? Object.values(json.edit_counts) : [];
  return {
    id: json.id,
    cropId: json.crop,
    version: json.version,
    authorName: json.author_name ?? "",
    createdAt: json.created_at ?? null,
    nCells: json.n_cells ?? null,
    predictionDifference: json.prediction_difference ?? null,
    actions: counts.reduce((sum, n) => sum + (Number(n) || 0), 0),
    reviewState: json.review_state ?? "submitted",
    reviewedByName: json.reviewed_by_name ?? "",
    reviewComment: json.review_comment ?? "",
  };
}

/** @param {any} json @param {{width: number, height: number}} shape @returns {import("./proposal.js").Proposal} */
export function proposalFromJson(json, shape) {
  const version = json?.model_version;
  return {
    cells: decodeCells(json?.mask, shape),
    modelVersion: typeof version === "object" && version !== null ? version.number ?? version.id ?? null : version ?? null,
    method: json?.method === "classical" ? "classical" : "flows",
    message: typeof json?.message === "string" && json.message ? json.message[0].toUpperCase() + json.message.slice(1) : null,
  };
}

/** @param {any} json @param {{width: number, height: number}} shape @returns {Prediction} */
function predictionFromJson(json, shape) {
  const version = json.model_version;
  const ref = typeof version === "object" && version !== null ? version : { id: version };
  const name = ref.name ?? (ref.number != null ? `model v${ref.number}` : ref.id != null ? `model ${ref.id}` : "");
  return {
    labelMap: decodeRle(json.mask, shape),
    modelVersionId: ref.id ?? null,
    modelVersionName: name,
    uncertainCells: mostUncertain(json.cell_uncertainty ?? json.uncertain_cells),
    missedPlaces: missedPlaces(json.possible_missed_cells),
  };
}

/** Most places circled as possible missed cells on one crop. */
export const MAX_PLACES = 20;

/**
 * Places where the model may have missed a cell, from [[x, y, radius], ...] (the largest
 * MAX_PLACES, as the server orders them); malformed entries are dropped.
 * @param {unknown} json @returns {Place[]}
 */
export function missedPlaces(json) {
  if (!Array.isArray(json)) return [];
  return json
    .filter((entry) => Array.isArray(entry) && entry.length === 3 && entry.every((v) => Number.isFinite(Number(v))))
    .slice(0, MAX_PLACES)
    .map(([x, y, radius]) => ({ x: Number(x), y: Number(y), radius: Math.max(0, Number(radius)) }));
}

/** Share of a crop's cells pointed out as doubtful (at least one, at most MAX_FLAGGED). */
export const FLAGGED_SHARE = 0.1;
export const MAX_FLAGGED = 20;

/**
 * The cells the model is least sure of: a list of ids as is, or from {"<id>": score} the top
 * FLAGGED_SHARE by score.
 * @param {unknown} scores @returns {number[]}
 */
export function mostUncertain(scores) {
  if (Array.isArray(scores)) return scores.map(Number);
  if (!scores || typeof scores !== "object") return [];
  const ranked = Object.entries(scores)
    .map(([id, score]) => [Number(id), Number(score)])
    .filter(([id, score]) => id > 0 && Number.isFinite(score))
    .sort((a, b) => b[1] - a[1]);
  const n = Math.min(MAX_FLAGGED, Math.max(1, Math.round(ranked.length * FLAGGED_SHARE)));
  return ranked.slice(0, n).map(([id]) => id);
}

// The server refuses more than a day on one crop (annotations/api/serializers.py): a tab left open
// for longer still submits, with the time clipped, rather than lose the labeller's mask.
export const MAX_SECONDS_SPENT = 24 * 3600;

/** @param {Submission} submission */
export function submissionToJson({ labelMap, secondsSpent, editCounts, startedFrom }) {
  return {
    mask: encodeRle(labelMap),
    seconds_spent: Math.round(Math.min(secondsSpent, MAX_SECONDS_SPENT) * 10) / 10,
    edit_counts: editCounts,
    started_from: startedFrom,
  };
}

/** Django's CSRF token from the csrftoken cookie ("" when absent). @param {string} cookieString */
export function csrfToken(cookieString) {
  for (const part of cookieString.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "csrftoken") return decodeURIComponent(rest.join("="));
  }
  return "";
}

/** @param {Response} response @returns {Promise<ApiError>} */
async function failure(response) {
  let detail = "", code = "";
  try {
    const body = await response.json();
    detail = typeof body?.detail === "string" ? body.detail : JSON.stringify(body);
    code = typeof body?.code === "string" ? body.code : "";
  } catch {
    detail = "";
  }
  const status = response.status;
  const said = detail ? ` The server said: ${detail}.` : "";
  if (status === 409 && code === "leased_by_other") {
    return new ApiError("taken", `Another labeller has this crop now.${said}`,
      "Download your mask to keep your work, then open the next crop.", status, code);
  }
  if (status === 409 && (code === "lease_expired" || code === "no_lease")) {
    return new ApiError("expired", `Your hold on this crop ran out.${said}`,
      "Your edits are still here: press \"Take the crop back and submit\".", status, code);
  }
  if (status === 409) {
    return new ApiError("invalid", `The server refused: the crop changed meanwhile.${said}`,
      "Your edits are still here. Press Try again; if it fails again, download your mask and open the next crop.", status, code);
  }
  if (status === 401 || status === 403) {
    return new ApiError("auth", `The server refused: you are logged out or not a member of this project.${said}`,
      "Log in again in another tab, then come back and press Try again. Your edits are still here.", status, code);
  }
  if (status === 404) {
    return new ApiError("not_found", `The server does not know this crop or project.${said}`,
      "Download your mask to keep your work, then reload the page.", status, code);
  }
  if (status >= 500) {
    return new ApiError("server", `The server failed (error ${status}).${said}`,
      "Wait a moment and press Try again. Your edits are still here.", status, code);
  }
  return new ApiError("invalid", `The server did not accept this (error ${status}).${said}`,
    "Your edits are still here. Download your mask and tell the project admin.", status, code);
}

/** @param {unknown} error */
function errorText(error) {
  return error instanceof Error ? error.message : String(error);
}
