// The performance report page: each "where labelling should go next" button sends its queue
// action (a focus on a tag, or a boost of an image group's waiting training crops) in one click.

import { notify } from "./dom.js";
import { api } from "./http.js";

const message = /** @type {HTMLElement} */ (document.getElementById("report-message"));

for (const button of /** @type {NodeListOf<HTMLButtonElement>} */ (document.querySelectorAll("button.focus"))) {
  button.addEventListener("click", () => focus(button));
}

/** @param {HTMLButtonElement} button */
async function focus(button) {
  button.disabled = true;
  try {
    const answer = await api(button.dataset.url ?? "", { method: "POST", body: JSON.parse(button.dataset.body ?? "{}") });
    notify(message, `${button.textContent}: done, ${answer.changed} crops now come first in the queue.`, "ok");
  } catch (error) {
    notify(message, `Not focused. ${error instanceof Error ? error.message : error}`, "error");
  } finally {
    button.disabled = false;
  }
}
