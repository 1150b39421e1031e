// Entry point for the labeller page: mounts the editor on the element marked data-labeller
// (data-project-id names the project) and opens the first crop.
//   <link rel="stylesheet" href="{% static 'frontend/editor/editor.css' %}">
//   <div data-labeller data-project-id="{{ project.id }}"></div>
//   <script type="module" src="{% static 'frontend/editor/main.js' %}"></script>

import { mountLabeller } from "./editor.js";

const root = /** @type {HTMLElement | null} */ (document.querySelector("[data-labeller]"));
if (root) {
  const editor = mountLabeller(root, { projectId: /** @type {string} */ (root.dataset.projectId) });
  editor.flow.loadNext();
}
