// Entry point for the labeller page: mounts the editor on the element marked data-labeller
// (data-project-id names the project) and opens the first crop. In review mode (data-review-order,
// set by the page for /projects/<id>/label/?review=<order>) it opens the review queue instead,
// starting with data-annotation-id on crop data-crop-id when the page names one.
//   <link rel="stylesheet" href="{% static 'frontend/editor/editor.css' %}">
//   <div data-labeller data-project-id="{{ project.id }}"></div>
//   <script type="module" src="{% static 'frontend/editor/main.js' %}"></script>

import { mountLabeller } from "./editor.js";

const root = /** @type {HTMLElement | null} */ (document.querySelector("[data-labeller]"));
if (root) {
  const { projectId, reviewOrder, annotationId, cropId } = root.dataset;
  const first = annotationId && cropId ? { annotationId: Number(annotationId), cropId: Number(cropId) } : null;
  const review = reviewOrder ? { order: reviewOrder, first } : null;
  const editor = mountLabeller(root, { projectId: /** @type {string} */ (projectId), review });
  editor.flow.loadNext();
}
