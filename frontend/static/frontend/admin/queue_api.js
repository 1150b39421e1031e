// The one module of the queue page that knows the ranked-queue admin API's URLs and JSON:
//   GET  /api/projects/{id}/queue/?status&split&image&tag&assigned_to&offset&limit -> {count, results}
//   POST /api/projects/{id}/queue/crops/ {action, crop_ids, tags?, priority?, user_id?} -> {changed}

import { api } from "./http.js";

/**
 * @typedef {Object} QueueEntry
 * @property {number} id @property {number} rank @property {string} imageName
 * @property {number} x @property {number} y @property {number} width @property {number} height
 * @property {string} displayUrl @property {number} score @property {string} reason
 * @property {Record<string, number>} scores stored scores by strategy
 * @property {string[]} tags @property {boolean} pinned @property {number} priority
 * @property {string} status @property {string} assignedTo @property {string} leasedBy
 * @property {string | null} leaseExpiresAt
 */

/** @typedef {{status: string, split: string, image?: string, tag?: string, assigned_to?: string}} QueueFilters */
/** @typedef {{priority?: number, tags?: string[], userId?: number}} ActionOptions */

/** @param {Record<string, string | number | undefined>} params */
function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  return q.toString();
}

/** @param {string} url the project's queue, e.g. /api/projects/1/queue/ */
export function queueApi(url) {
  return {
    /** @param {QueueFilters} filters @param {number} offset @param {number} limit */
    async list(filters, offset, limit) {
      const page = await api(`${url}?${query({ ...filters, offset, limit })}`);
      return { count: page.count, entries: page.results.map(fromJson), modelVersion: page.model_version };
    },
    /** @param {string} action @param {QueueEntry[]} entries @param {ActionOptions} options */
    async act(action, entries, { priority, tags = [], userId } = {}) {
      const body = { action, crop_ids: entries.map((e) => e.id), tags, ...(priority ? { priority } : {}), ...(userId ? { user_id: userId } : {}) };
      return (await api(`${url}crops/`, { method: "POST", body })).changed;
    },
  };
}

/** @returns {QueueEntry} */
function fromJson(e) {
  return {
    id: e.crop, rank: e.rank, imageName: e.image_name, x: e.x, y: e.y, width: e.width, height: e.height,
    displayUrl: e.display_url, score: e.queue_score, reason: e.reason, scores: e.scores ?? {}, tags: e.tags, pinned: e.pinned,
    priority: e.priority, status: e.status, assignedTo: e.assigned_to_name ?? "", leasedBy: e.leased_by_name ?? "",
    leaseExpiresAt: e.lease_expires_at,
  };
}
