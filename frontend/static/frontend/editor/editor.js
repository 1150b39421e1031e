// The labeller page: wires the flow (flow.js, or review.js in review mode), input (input.js) and
// controls (controls.js) to the DOM (ui.js) and the renderer. DOM events become calls on them;
// store events become redraws (render.js) and the page's buttons, controls and status line.

import { when } from "../admin/dom.js";
import { createApi } from "./api.js";
import { Assistant } from "./assist.js";
import { EditorControls, PERCENT_SLIDERS, statusLine } from "./controls.js";
import { LabellingFlow } from "./flow.js";
import { EditorInput } from "./input.js";
import { CanvasRenderer } from "./render.js";
import { ReviewFlow, reviewLine, showingLabel } from "./review.js";
import { buildKeymap, REVIEW_SHORTCUTS } from "./shortcuts.js";
import { EditorStore } from "./store.js";
import { ActiveTimer } from "./timer.js";
import { createToolRegistry } from "./tools/index.js";
import {
  buildLayout, canvasPoint, capturePointer, downloadFile, helpOverlay, isTyping, loadImageElement, pointerInput, showBusy,
  showDisplay, showMessage, showNote, showReviewPanel,
} from "./ui.js";

/**
 * @typedef {Object} LabellerOptions
 * @property {number | string} projectId
 * @property {import("./api.js").Api} [api]
 * @property {Map<string, import("./tools/tool.js").Tool>} [tools]
 * @property {(url: string) => Promise<CanvasImageSource>} [loadImage]
 * @property {{order: string, first: {annotationId: number, cropId: number} | null} | null} [review]
 *   review mode: the review queue's order, and the annotation to open first
 */

/** @param {HTMLElement} root @param {LabellerOptions} options */
export function mountLabeller(root, { projectId, api = createApi(), tools = createToolRegistry(), loadImage = loadImageElement, review = null }) {
  const store = new EditorStore();
  const ui = buildLayout(root, tools.values(), { review: Boolean(review) });
  const renderer = new CanvasRenderer(ui.canvas, store);
  const timer = new ActiveTimer(() => performance.now());
  const cleanups = [];
  const listen = (target, type, handler, options) => {
    target.addEventListener(type, handler, options);
    cleanups.push(() => target.removeEventListener(type, handler, options));
  };
  const updateStatus = () => { ui.status.textContent = statusLine(store, timer.seconds(), renderer.places); };
  const help = helpOverlay(ui);
  let openedInfo = "";

  const page = {
    setBusy: (busy, text) => showBusy(ui, busy, text),
    showImage(crop, image, { flagged, places }) {
      renderer.setImage(image, crop.width, crop.height);
      renderer.flagged = flagged;
      renderer.places = places;
    },
    showOpened(info) {
      ui.channels.hidden = renderer.grey;
      controls.fit();
      ui.message.hidden = true;
      if (ui.review) ui.review.comment.value = "";
      openedInfo = info;
      ui.info.textContent = info;
      updateStatus();
      renderer.draw();
    },
    showNote: (note) => showNote(ui, note),
    showInfo: (text) => { ui.info.textContent = text; },
    showFailure: (text, choices) => showMessage(ui, text, "error", choices),
    confirm: (question) => window.confirm(question),
    download: downloadFile,
    showReview(panel) {
      showReviewPanel(ui, panel, panel ? reviewLine(panel, when) : "", panel ? showingLabel(panel) : "");
    },
    needComment(text) {
      showMessage(ui, text, "warning");
      ui.review?.comment.focus();
    },
  };
  const flow = review
    ? new ReviewFlow({ api, projectId, store, timer, loadImage, page, order: review.order, first: review.first })
    : new LabellingFlow({ api, projectId, store, timer, loadImage, page });
  const canvasSize = () => ({ width: ui.canvas.clientWidth, height: ui.canvas.clientHeight });
  const controls = new EditorControls({ store, flow, help, canvasSize, isGrey: () => renderer.grey });
  const { commands } = controls;
  if (flow instanceof ReviewFlow) commands["toggle-prediction"] = () => flow.toggle();
  const assist = new Assistant({ api, store, flow, measure: true });
  const keymap = buildKeymap(tools.values(), review ? REVIEW_SHORTCUTS : []);
  const input = new EditorInput({ store, tools, keymap, timer, flow, commands, help, assist });

  // ---- DOM events -> input, controls and flow ---------------------------------------------------
  const pointer = (/** @type {PointerEvent} */ event) => pointerInput(ui.canvas, event);
  listen(ui.canvas, "pointerdown", (/** @type {PointerEvent} */ event) => {
    ui.canvas.focus();
    const took = input.pointerDown(pointer(event));
    if (took) capturePointer(ui.canvas, event);
    if (took === "pan") event.preventDefault();
  });
  listen(ui.canvas, "pointermove", (event) => input.pointerMove(pointer(event)));
  for (const type of ["pointerup", "pointercancel"]) listen(ui.canvas, type, (event) => input.pointerUp(pointer(event)));
  listen(ui.canvas, "pointerleave", () => input.pointerLeave());
  listen(ui.canvas, "contextmenu", (event) => event.preventDefault());
  listen(ui.canvas, "wheel", (/** @type {WheelEvent} */ event) => {
    event.preventDefault();
    input.wheel({ ...canvasPoint(ui.canvas, event), deltaY: event.deltaY, deltaMode: event.deltaMode });
  }, { passive: false });
  listen(window, "keydown", (/** @type {KeyboardEvent} */ event) => {
    if (!isTyping(event.target) && input.keyDown(event)) event.preventDefault();
  });
  listen(window, "keyup", (event) => input.keyUp(event));
  listen(window, "beforeunload", (/** @type {BeforeUnloadEvent} */ event) => {
    if (!store.isDirty) return;
    event.preventDefault();
    event.returnValue = "";
  });
  listen(document, "visibilitychange", () => timer.setVisible(document.visibilityState === "visible"));

  for (const [name, button] of ui.toolButtons) listen(button, "click", (event) => input.chooseTool(name, event));
  for (const name of ["undo", "redo", "submit", "fit", "help"]) listen(ui[name], "click", () => commands[name]());
  listen(ui.skip, "click", () => flow.skip());
  if (flow instanceof ReviewFlow && ui.review) {
    const panel = ui.review;
    listen(panel.toggle, "click", () => flow.toggle());
    listen(panel.accept, "click", () => flow.accept());
    listen(panel.giveBack, "click", () => flow.returnToAuthor(panel.comment.value));
  }
  listen(ui.helpOverlay, "click", (event) => { if (event.target === ui.helpOverlay) help.toggle(false); });
  listen(ui.radius, "input", () => store.setRadius(Number(ui.radius.value)));
  for (const name of PERCENT_SLIDERS) listen(ui[name], "input", () => controls.setPercent(name, ui[name].value));
  listen(ui.style, "change", () => {
    controls.setStyle(ui.style.value);
    ui.style.blur(); // a focused <select> would keep the keyboard shortcuts from working
  });
  listen(ui.masks, "change", () => store.setDisplay({ masksVisible: ui.masks.checked }));
  ui.channelBoxes.forEach((box, k) => listen(box, "change", () => controls.setChannel(k, box.checked)));

  // ---- store -> page ------------------------------------------------------------------------------
  let statusFrame = 0;
  const scheduleStatus = () => { if (!statusFrame) statusFrame = requestAnimationFrame(() => { statusFrame = 0; updateStatus(); }); };
  cleanups.push(store.subscribe((event) => {
    if (event.type === "history") {
      ui.undo.toggleAttribute("disabled", !store.history.canUndo);
      ui.redo.toggleAttribute("disabled", !store.history.canRedo);
    } else if (event.type === "tool" || event.type === "waiting") {
      for (const [name, button] of ui.toolButtons) button.setAttribute("aria-pressed", String(name === store.tool));
      // A small busy cue while the model works: the progress cursor (the renderer rings the click).
      ui.canvas.style.cursor = store.waiting.length ? "progress" : input.activeTool.cursor ?? "default";
      ui.root.toggleAttribute("data-proposing", store.waiting.length > 0);
      ui.radius.value = String(store.radius);
    } else if (event.type === "proposal") {
      // Without a model's flows for this crop the server falls back to a classical method: say so.
      const why = flow.crop?.prediction ? "this crop's prediction kept no flows" : "no model yet";
      ui.info.textContent = event.method === "classical"
        ? `${openedInfo} · Assist: ${why}, so its cells come from a classical method (threshold + watershed)` : openedInfo;
    } else if (event.type === "display") {
      showDisplay(ui, controls.values());
    } else if (event.type === "message") {
      showMessage(ui, event.text, event.level);
    }
    if (["history", "tool", "selection", "hover", "view", "loaded"].includes(event.type)) scheduleStatus();
  }));
  const clock = setInterval(updateStatus, 1000);
  cleanups.push(() => clearInterval(clock));
  store.emit({ type: "tool", tool: store.tool });

  function destroy() {
    for (const cleanup of cleanups.splice(0)) cleanup();
    flow.destroy();
    assist.destroy();
    renderer.destroy();
  }

  return { store, renderer, ui, tools, flow, input, controls, assist, destroy };
}
