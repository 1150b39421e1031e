// Where the queue page reads the queue and sends its actions: the ranked-queue admin API
// (/api/projects/{id}/queue/) when the server has it, else the plain crops API, ordered here the
// way the next-crop query serves (pinned, priority, score, oldest). Both give the same entries.

import { api } from "./http.js";

/**
 * @typedef {Object} QueueEntry
 * @property {number} id @property {number} rank @property {string} imageName
 * @property {number} x @property {number} y @property {number} width @property {number} height
 * @property {string} displayUrl @property {number} score @property {string} reason
 * @property {string[]} tags @property {boolean} pinned @property {number} priority
 * @property {string} status @property {string} assignedTo @property {string} leasedBy
 * @property {string | null} leaseExpiresAt
 */

/** @typedef {{status: string, split: string, image?: string, tag?: string, assigned_to?: string}} QueueFilters */
/** @typedef {{priority?: number, tags?: string[], userId?: number}} ActionOptions */

/** Why a crop is where it is: an admin's pin or priority outranks the strategy's reason. */
export function shownReason(crop) {
  if (crop.pinned) return "pinned";
  if (crop.priority > 0) return `boost:${crop.priority}`;
  if (crop.priority < 0) return `buried:${crop.priority}`;
  return crop.queue_reason || "unranked";
}

/** The next-crop query's order (annotations.selectors.QUEUE_ORDER). */
export function queueOrder(a, b) {
  return (Number(b.pinned) - Number(a.pinned)) || (b.priority - a.priority) || (b.queue_score - a.queue_score) || (a.id - b.id);
}

const STATUSES = { queue: ["unlabelled", "leased"], unlabelled: ["unlabelled"], leased: ["leased"], skipped: ["skipped"], labelled: ["labelled"] };

/** @param {Record<string, string | number | undefined>} params */
function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  return q.toString();
}

/** The ranked-queue admin API. @param {string} url e.g. /api/projects/1/queue/ */
export function rankedSource(url) {
  return {
    ranked: true,
    /** @param {QueueFilters} filters @param {number} offset @param {number} limit */
    async list(filters, offset, limit) {
      const page = await api(`${url}?${query({ ...filters, offset, limit })}`);
      return { count: page.count, entries: page.results.map(fromRanked), modelVersion: page.model_version };
    },
    /** @param {string} action @param {QueueEntry[]} entries @param {ActionOptions} options */
    async act(action, entries, { priority, tags = [], userId } = {}) {
      const body = { action, crop_ids: entries.map((e) => e.id), tags, ...(priority ? { priority } : {}), ...(userId ? { user_id: userId } : {}) };
      return (await api(`${url}crops/`, { method: "POST", body })).changed;
    },
  };
}

/** @returns {QueueEntry} */
function fromRanked(e) {
  return {
    id: e.crop, rank: e.rank, imageName: e.image_name, x: e.x, y: e.y, width: e.width, height: e.height,
    displayUrl: e.display_url, score: e.queue_score, reason: e.reason, tags: e.tags, pinned: e.pinned,
    priority: e.priority, status: e.status, assignedTo: e.assigned_to_name ?? "", leasedBy: e.leased_by_name ?? "",
    leaseExpiresAt: e.lease_expires_at,
  };
}

/**
 * The crops API (GET /api/projects/{id}/crops/, PATCH /api/crops/{id}/).
 * @param {string | number} projectId @param {Map<number, string>} names user id -> user name
 * @param {Map<number, string>} imageNames image id -> file name
 */
export function cropsSource(projectId, names, imageNames) {
  return {
    ranked: false,
    /** @param {QueueFilters} filters @param {number} offset @param {number} limit */
    async list({ status, ...filters }, offset, limit) {
      const wanted = STATUSES[status] ?? STATUSES.queue;
      const one = wanted.length === 1 ? wanted[0] : undefined;
      const page = await api(`/api/projects/${projectId}/crops/?${query({ ...filters, status: one, limit: 100000 })}`);
      const crops = page.results.filter((c) => wanted.includes(c.status)).sort(queueOrder);
      const entries = crops.slice(offset, offset + limit).map((c, i) => fromCrop(c, offset + i + 1, names, imageNames));
      return { count: crops.length, entries, modelVersion: null };
    },
    /** @param {string} action @param {QueueEntry[]} entries @param {ActionOptions} options */
    async act(action, entries, options = {}) {
      for (const entry of entries) await api(`/api/crops/${entry.id}/`, { method: "PATCH", body: patchFor(action, entry, options) });
      return entries.length;
    },
  };
}

/** @returns {QueueEntry} */
function fromCrop(c, rank, names, imageNames) {
  return {
    id: c.id, rank, imageName: imageNames.get(c.image) ?? `image ${c.image}`, x: c.x, y: c.y, width: c.width,
    height: c.height, displayUrl: c.display_url, score: c.queue_score, reason: shownReason(c), tags: c.tags,
    pinned: c.pinned, priority: c.priority, status: c.status, assignedTo: c.assigned_to ? names.get(c.assigned_to) ?? `user ${c.assigned_to}` : "",
    leasedBy: c.leased_by ? names.get(c.leased_by) ?? `user ${c.leased_by}` : "", leaseExpiresAt: c.lease_expires_at,
  };
}

/** One queue action as a crop PATCH. @param {string} action @param {QueueEntry} entry @param {ActionOptions} options */
export function patchFor(action, entry, { priority = 1, tags = [], userId } = {}) {
  switch (action) {
    case "pin": return { pinned: true };
    case "unpin": return { pinned: false };
    case "boost": return { priority: Math.abs(priority) };
    case "bury": return { priority: -Math.abs(priority) };
    case "reset_priority": return { priority: 0 };
    case "tag": return { tags: [...new Set([...entry.tags, ...tags])] };
    case "untag": return { tags: entry.tags.filter((t) => !tags.includes(t)) };
    case "assign": return { assigned_to: userId };
    case "unassign": return { assigned_to: null };
    default: throw new Error(`unknown queue action ${action}`);
  }
}
