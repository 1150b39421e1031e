// The Review page's rows and links, from the review queue's entries (editor/api.js
// ReviewSummary). No DOM: admin/review.js builds the table from these.

/** @typedef {import("../editor/api.js").ReviewSummary} ReviewSummary */

/**
 * The editor's review mode, in this order, opening one annotation first when given.
 * @param {number | string} projectId @param {string} order @param {number} [annotationId]
 */
export function reviewUrl(projectId, order, annotationId) {
  const query = new URLSearchParams({ review: order });
  if (annotationId !== undefined) query.set("annotation", String(annotationId));
  return `/projects/${projectId}/label/?${query}`;
}

/**
 * One row of the table: what each column shows.
 * @param {ReviewSummary} entry @param {(iso: string | null) => string} when
 */
export function reviewRow(entry, when) {
  const decided = entry.reviewState !== "submitted";
  return {
    crop: `Crop ${entry.cropId} · v${entry.version}`,
    labeller: entry.authorName || "–",
    submitted: when(entry.createdAt),
    cells: entry.nCells ?? "–",
    changed: entry.predictionDifference ?? "–",
    actions: entry.actions,
    state: entry.reviewState,
    // Who decided, and what they said (a returned annotation's comment is what its labeller reads).
    decision: decided ? [entry.reviewedByName && `by ${entry.reviewedByName}`, entry.reviewComment && `“${entry.reviewComment}”`]
      .filter(Boolean).join(": ") : "",
    open: decided ? "Open" : "Review",
  };
}

/** The range shown, e.g. "26–50 of 73" ("" when empty). @param {number} offset @param {number} shown @param {number} count */
export function rangeText(offset, shown, count) {
  return count && shown ? `${offset + 1}–${offset + shown} of ${count}` : "";
}
