// The labeller page's DOM: toolbar, canvas, info and status lines, message banner, help overlay,
// and the browser calls the page makes (pointer positions and capture, image loading, downloads).
// Built here so editor.js only wires behaviour. Class names start with "ls-" (editor.css).

import { PERCENT_SLIDERS } from "./controls.js";
import { helpRows } from "./shortcuts.js";

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
 * Build the editor's DOM inside `root`.
 * @param {HTMLElement} root @param {Iterable<Tool>} tools
 */
export function buildLayout(root, tools) {
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

  const submit = h("button", { type: "button", class: "ls-primary", title: "Submit and open the next crop (Ctrl+Enter)" }, "Submit");
  const skip = h("button", { type: "button", title: "Put this crop back and open the next" }, "Skip");
  const actions = h("div", { class: "ls-actions" }, submit, skip);

  const info = h("div", { class: "ls-info", "aria-live": "polite" });
  const message = h("div", { class: "ls-message", role: "status", hidden: true });
  const canvas = /** @type {HTMLCanvasElement} */ (h("canvas", { class: "ls-canvas", tabindex: 0, "aria-label": "Crop and cells" }));
  const stage = h("div", { class: "ls-stage" }, canvas);
  const status = h("div", { class: "ls-status" });
  const helpOverlay = buildHelp(tools);

  root.classList.add("ls-editor");
  root.replaceChildren(h("div", { class: "ls-top" }, toolbar, actions), display, info, message, stage, status, helpOverlay);
  return {
    toolButtons, radius: radius.input, undo, redo, opacity: opacity.input, style, masks, brightness: brightness.input,
    contrast: contrast.input, gamma: gamma.input, channels, channelBoxes, fit, help, submit, skip, info, message,
    canvas, stage, status, helpOverlay, root,
  };
}

/** @typedef {ReturnType<typeof buildLayout>} Layout */

/** @param {Iterable<Tool>} tools */
function buildHelp(tools) {
  const rows = helpRows(tools).map(([keys, what]) => h("tr", {}, h("th", { scope: "row" }, h("kbd", {}, keys)), h("td", {}, what)));
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

/** A request is under way: Submit and Skip wait, and the banner says what it is. @param {Layout} ui @param {boolean} busy @param {string} text */
export function showBusy(ui, busy, text) {
  ui.submit.toggleAttribute("disabled", busy);
  ui.skip.toggleAttribute("disabled", busy);
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
