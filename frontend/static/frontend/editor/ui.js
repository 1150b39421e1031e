// The labeller page's DOM: toolbar, canvas, info and status lines, message banner, help overlay,
// and the browser calls the page makes (pointer positions and capture, image loading, downloads).
// Built here so editor.js only wires behaviour. Class names start with "ls-" (editor.css).

import { PERCENT_SLIDERS } from "./controls.js";
import { helpRows, REVIEW_SHORTCUTS } from "./shortcuts.js";

/** @typedef {import("./tools/tool.js").Tool} Tool */

/**
 * @param {string} tag @param {Record<string, any>} [attrs] @param {...(Node | string)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...children);
  return el;
}

/** @param {string} label @param {Record<string, any>} attrs */
function slider(label, attrs) {
  const input = /** @type {HTMLInputElement} */ (h("input", { type: "range", ...attrs }));
  return { input, el: h("label", { class: "ls-slider" }, label, input) };
}

/**
 * Build the editor's DOM inside `root`; in review mode with the review panel and its shortcuts.
 * @param {HTMLElement} root @param {Iterable<Tool>} tools @param {{review?: boolean}} [mode]
 */
export function buildLayout(root, tools, { review = false } = {}) {
  const toolButtons = new Map();
  const toolbar = h("div", { class: "ls-toolbar", role: "toolbar", "aria-label": "Tools" });
  for (const tool of tools) {
    const button = h("button", { type: "button", class: "ls-tool", dataset: { tool: tool.name }, title: `${tool.label} (${tool.key.toUpperCase()}): ${tool.help}` },
      tool.label, h("kbd", {}, tool.key.toUpperCase()));
    toolButtons.set(tool.name, button);
    toolbar.append(button);
  }
  const radius = slider("Size", { min: 1, max: 100, step: 1, value: 6, "aria-label": "Brush and eraser radius" });
  const undo = h("button", { type: "button", title: "Undo (Ctrl+Z)", disabled: true }, "Undo");
  const redo = h("button", { type: "button", title: "Redo (Ctrl+Shift+Z)", disabled: true }, "Redo");
  toolbar.append(radius.el, undo, redo);

  const opacity = slider("Fill", { min: 0, max: 100, step: 5, value: 35, "aria-label": "Fill opacity" });
  const style = /** @type {HTMLSelectElement} */ (h("select", { "aria-label": "How cells are drawn" },
    h("option", { value: "both" }, "Fill + outline"), h("option", { value: "outline" }, "Outline"), h("option", { value: "fill" }, "Fill")));
  const masks = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", checked: true }));
  const brightness = slider("Brightness", { min: -100, max: 100, step: 1, value: 0 });
  const contrast = slider("Contrast", { min: 10, max: 400, step: 5, value: 100 });
  const gamma = slider("Gamma", { min: 10, max: 300, step: 5, value: 100 });
  const channelBoxes = ["R", "G", "B"].map((name) => /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", checked: true, "aria-label": `Channel ${name}` })));
  const channels = h("span", { class: "ls-channels", hidden: true }, "Channels",
    ...channelBoxes.map((box, k) => h("label", {}, box, ["R", "G", "B"][k])));
  const fit = h("button", { type: "button", title: "Fit to the window (0)" }, "Fit");
  const help = h("button", { type: "button", title: "Keyboard shortcuts (?)" }, "?");
  const display = h("div", { class: "ls-display" }, opacity.el, style, h("label", {}, masks, "Cells"),
    brightness.el, contrast.el, gamma.el, channels, fit, help);

  const submit = review
    ? h("button", { type: "button", class: "ls-primary", title: "Save your edits as the corrected mask and open the next annotation (Ctrl+Enter)" }, "Submit correction")
    : h("button", { type: "button", class: "ls-primary", title: "Submit and open the next crop (Ctrl+Enter)" }, "Submit");
  const skip = review
    ? h("button", { type: "button", title: "Leave this annotation for later and open the next" }, "Skip")
    : h("button", { type: "button", title: "Put this crop back and open the next" }, "Skip");
  const actions = h("div", { class: "ls-actions" }, submit, skip);

  const info = h("div", { class: "ls-info", "aria-live": "polite" });
  const note = h("div", { class: "ls-note", role: "alert", hidden: true });
  const message = h("div", { class: "ls-message", role: "status", hidden: true });
  const canvas = /** @type {HTMLCanvasElement} */ (h("canvas", { class: "ls-canvas", tabindex: 0, "aria-label": "Crop and cells" }));
  const stage = h("div", { class: "ls-stage" }, canvas);
  const status = h("div", { class: "ls-status" });
  const helpOverlay = buildHelp(tools, review ? REVIEW_SHORTCUTS : []);
  const panel = review ? buildReviewPanel() : null;

  root.classList.add("ls-editor");
  root.replaceChildren(h("div", { class: "ls-top" }, toolbar, actions), ...(panel ? [panel.el] : []), display, info, note,
    message, stage, status, helpOverlay);
  return {
    toolButtons, radius: radius.input, undo, redo, opacity: opacity.input, style, masks, brightness: brightness.input,
    contrast: contrast.input, gamma: gamma.input, channels, channelBoxes, fit, help, submit, skip, info, note, message,
    canvas, stage, status, helpOverlay, root, review: panel,
  };
}

/** The review panel: who submitted the annotation, the submitted/prediction toggle, accept, return with a comment. */
function buildReviewPanel() {
  const who = h("span", { class: "ls-review-who" });
  const toggle = h("button", { type: "button", class: "ls-review-toggle", title: "The submitted mask or the model's prediction (T)" }, "Showing: the submitted mask");
  const accept = h("button", { type: "button", class: "ls-accept", title: "The annotation is right as submitted: accept it and open the next" }, "Accept");
  const comment = /** @type {HTMLTextAreaElement} */ (h("textarea", {
    class: "ls-review-comment", rows: 1, "aria-label": "What the labeller should change",
    placeholder: "What should the labeller change? (needed to return)", maxlength: 2000,
  }));
  const giveBack = h("button", { type: "button", class: "ls-return", title: "Send the crop back to its labeller with your comment and open the next" }, "Return");
  const el = h("div", { class: "ls-review", role: "group", "aria-label": "Review" },
    who, toggle, h("span", { class: "ls-review-decide" }, accept, comment, giveBack));
  return { el, who, toggle, accept, comment, giveBack };
}

/** @typedef {ReturnType<typeof buildLayout>} Layout */

/** @param {Iterable<Tool>} tools @param {import("./shortcuts.js").Shortcut[]} extra */
function buildHelp(tools, extra) {
  const rows = helpRows(tools, extra).map(([keys, what]) => h("tr", {}, h("th", { scope: "row" }, h("kbd", {}, keys)), h("td", {}, what)));
  return h("div", { class: "ls-help", role: "dialog", "aria-label": "Keyboard shortcuts", hidden: true },
    h("div", { class: "ls-help-box" },
      h("h2", {}, "Keyboard shortcuts"),
      h("table", {}, h("tbody", {}, ...rows)),
      h("p", {}, "New cells take only unlabelled pixels, and the brush adds only unlabelled pixels to its cell: ",
        "other cells never change unless you hold Shift while finishing the edit (paint over)."),
      h("p", {}, "Press ? or Escape to close.")));
}

/**
 * Show a message, with buttons for what the labeller can do about it.
 * @param {Layout} ui @param {string} text @param {"info" | "warning" | "error"} level
 * @param {Array<[string, () => void]>} [choices] button label and action
 */
export function showMessage(ui, text, level, choices = []) {
  const { message } = ui;
  message.className = `ls-message ls-${level}`;
  message.setAttribute("role", level === "error" ? "alert" : "status");
  const buttons = choices.map(([label, act]) => h("button", { type: "button", onclick: act }, label));
  const close = h("button", { type: "button", class: "ls-close", "aria-label": "Dismiss", onclick: () => { message.hidden = true; } }, "×");
  message.replaceChildren(h("span", {}, text), ...buttons, close);
  message.hidden = false;
}

/**
 * What the labeller must read before submitting (a reviewer's comment), or nothing.
 * @param {Layout} ui @param {import("./flow.js").Note | null} note
 */
export function showNote(ui, note) {
  ui.note.replaceChildren(...(note ? [h("strong", {}, note.title), h("span", {}, note.text)] : []));
  ui.note.hidden = !note;
}

/**
 * The review panel for the annotation open, or hidden when none is.
 * @param {Layout} ui @param {import("./review.js").ReviewPanel | null} panel @param {string} line @param {string} showing
 */
export function showReviewPanel(ui, panel, line, showing) {
  const review = ui.review;
  if (!review) return;
  review.el.hidden = !panel;
  if (!panel) return;
  review.who.textContent = line;
  review.toggle.textContent = showing;
  review.toggle.toggleAttribute("disabled", !panel.hasPrediction);
  review.toggle.setAttribute("aria-pressed", String(panel.showing === "prediction"));
  review.el.dataset.showing = panel.showing;
  for (const button of [review.accept, review.giveBack]) button.toggleAttribute("disabled", !panel.decidable);
  review.comment.toggleAttribute("disabled", !panel.decidable);
}

/** A request is under way: Submit and Skip wait, and the banner says what it is. @param {Layout} ui @param {boolean} busy @param {string} text */
export function showBusy(ui, busy, text) {
  ui.submit.toggleAttribute("disabled", busy);
  ui.skip.toggleAttribute("disabled", busy);
  ui.review?.el.toggleAttribute("aria-busy", busy);
  ui.root.toggleAttribute("aria-busy", busy);
  if (busy) showMessage(ui, text, "info");
  else if (ui.message.classList.contains("ls-info")) ui.message.hidden = true;
}

/**
 * Set the display controls to these values (controls.js EditorControls.values).
 * @param {Layout} ui @param {ReturnType<import("./controls.js").EditorControls["values"]>} values
 */
export function showDisplay(ui, values) {
  for (const name of PERCENT_SLIDERS) ui[name].value = values[name];
  ui.style.value = values.style;
  ui.masks.checked = values.masks;
  ui.channelBoxes.forEach((box, k) => { box.checked = values.channels[k]; });
}

/** The help overlay, opened and closed by ? and its button. @param {Layout} ui */
export function helpOverlay(ui) {
  return {
    isOpen: () => !ui.helpOverlay.hidden,
    /** @param {boolean} [show] toggles when left out */
    toggle: (show = ui.helpOverlay.hidden) => { ui.helpOverlay.hidden = !show; },
  };
}

/** Where a mouse event is, in the canvas's CSS pixels. @param {HTMLElement} canvas @param {MouseEvent} event */
export function canvasPoint(canvas, event) {
  const rect = canvas.getBoundingClientRect();
  return { x: event.clientX - rect.left, y: event.clientY - rect.top };
}

/**
 * A pointer event as input.js reads it.
 * @param {HTMLElement} canvas @param {PointerEvent} event @returns {import("./input.js").PointerInput}
 */
export function pointerInput(canvas, event) {
  return {
    ...canvasPoint(canvas, event), button: event.button, shiftKey: event.shiftKey, altKey: event.altKey, detail: event.detail,
    coalesced: () => (event.getCoalescedEvents?.() ?? []).map((e) => canvasPoint(canvas, e)),
  };
}

/** Keep getting moves while the button is down, even outside the canvas. @param {HTMLElement} canvas @param {PointerEvent} event */
export function capturePointer(canvas, event) {
  try {
    canvas.setPointerCapture(event.pointerId);
  } catch {
    // synthetic events (tests, benchmarks) have no active pointer to capture
  }
}

/** Keys typed here are text, not shortcuts. @param {EventTarget | null} target */
export function isTyping(target) {
  const el = /** @type {HTMLElement | null} */ (target);
  if (!el || !el.tagName) return false;
  if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
  return el.tagName === "INPUT" && !["range", "checkbox", "button", "radio"].includes(/** @type {HTMLInputElement} */ (el).type);
}

/** @param {string} url @returns {Promise<HTMLImageElement>} */
export function loadImageElement(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    // With an object store the crop's URL redirects to the store (docs/deploy.md): fetched without
    // CORS, the image would taint the canvas the editor reads its pixels back from.
    image.crossOrigin = "anonymous";
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`the crop image ${url} did not load`));
    image.src = url;
  });
}

/** Hand the labeller a file to keep (JSON). @param {string} fileName @param {string} text */
export function downloadFile(fileName, text) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  link.download = fileName;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
