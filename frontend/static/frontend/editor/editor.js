// The labeller page: wires the store, tools, renderer and API adapter to the DOM. Pointer and
// key events become tool calls and commands; store events become canvas redraws and status text.
// Open a crop -> correct -> Submit (or Skip) -> the next crop opens at once.

import { ApiError, createApi } from "./api.js";
import { encodeRle } from "./codec.js";
import { deleteCell } from "./edits.js";
import { LabelMap } from "./labelmap.js";
import { openPlaces } from "./overlay.js";
import { CanvasRenderer } from "./render.js";
import { buildKeymap, keyName } from "./shortcuts.js";
import { DEFAULT_DISPLAY, EditorStore } from "./store.js";
import { ActiveTimer } from "./timer.js";
import { createToolRegistry } from "./tools/index.js";
import { buildLayout, formatDuration, showMessage } from "./ui.js";
import { fitView, panBy, screenToImage, wheelFactor, zoomAt } from "./viewport.js";

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./api.js").Crop} Crop */
/** @typedef {import("./tools/tool.js").Tool} Tool */
/** @typedef {import("./tools/tool.js").ToolContext} ToolContext */

/**
 * @typedef {Object} LabellerOptions
 * @property {number | string} projectId
 * @property {Api} [api]
 * @property {Map<string, Tool>} [tools]
 * @property {(url: string) => Promise<CanvasImageSource>} [loadImage]
 */

/** @param {HTMLElement} root @param {LabellerOptions} options */
export function mountLabeller(root, { projectId, api = createApi(), tools = createToolRegistry(), loadImage = loadImageElement }) {
  const store = new EditorStore();
  const ui = buildLayout(root, tools.values());
  const renderer = new CanvasRenderer(ui.canvas, store);
  const keymap = buildKeymap(tools.values());
  const timer = new ActiveTimer(() => performance.now());
  const session = {
    /** @type {Crop | null} */ crop: null,
    busy: false, drawing: false, spaceHeld: false,
    /** @type {{x: number, y: number} | null} */ panFrom: null,
    /** milliseconds from asking for the crop to its first frame */ openMs: 0,
  };
  const cleanups = [];
  const listen = (target, type, handler, options) => {
    target.addEventListener(type, handler, options);
    cleanups.push(() => target.removeEventListener(type, handler, options));
  };

  // ---- crops: open, submit, skip ------------------------------------------------------------------

  async function loadNext() {
    const started = performance.now();
    setBusy(true, "Opening the next crop…");
    let crop, image;
    try {
      crop = await api.nextCrop(projectId);
      if (crop) image = await loadImage(crop.imageUrl);
    } catch (error) {
      setBusy(false);
      showFailure(error, "load");
      return;
    }
    setBusy(false);
    if (!crop) {
      session.crop = null;
      store.load(new LabelMap(0, 0));
      ui.info.textContent = "No crops are waiting in this project's queue. Thank you! Check back later.";
      return;
    }
    openCrop(crop, /** @type {CanvasImageSource} */ (image));
    renderer.draw();
    session.openMs = performance.now() - started;
  }

  /** Show a crop and its prediction (or an empty map) for editing. @param {Crop} crop @param {CanvasImageSource} image */
  function openCrop(crop, image) {
    session.crop = crop;
    renderer.setImage(image, crop.width, crop.height);
    renderer.flagged = new Set(crop.currentAnnotation ? [] : crop.prediction?.uncertainCells ?? []);
    renderer.places = crop.currentAnnotation ? [] : crop.prediction?.missedPlaces ?? [];
    store.load(startingMap(crop));
    ui.channels.hidden = renderer.grey;
    fit();
    timer.restart();
    ui.message.hidden = true;
    showCropInfo(crop);
    updateStatus();
  }

  async function submit() {
    const crop = session.crop;
    if (!crop || session.busy) return;
    store.finishStroke();
    setBusy(true, "Saving…");
    try {
      await api.submit(crop.id, {
        labelMap: store.map,
        secondsSpent: timer.seconds(),
        editCounts: store.editCounts(),
        startedFrom: crop.currentAnnotation ? null : crop.prediction?.modelVersionId ?? null,
      });
    } catch (error) {
      setBusy(false);
      showFailure(error, "submit");
      return;
    }
    store.markSaved();
    setBusy(false);
    await loadNext();
  }

  async function skip() {
    const crop = session.crop;
    if (!crop || session.busy) return;
    if (store.isDirty && !window.confirm("Skip this crop? Your edits on it will be dropped.")) return;
    setBusy(true, "Skipping…");
    try {
      await api.skip(crop.id);
    } catch (error) {
      setBusy(false);
      showFailure(error, "skip");
      return;
    }
    store.markSaved();
    setBusy(false);
    await loadNext();
  }

  /** Say what went wrong and offer what can be done; the edits stay in the store. */
  function showFailure(error, action) {
    const failure = error instanceof ApiError ? error
      : new ApiError("network", `Something went wrong: ${error instanceof Error ? error.message : error}.`, "Try again.");
    if (action === "load") {
      showMessage(ui, `Could not open the next crop. ${failure.message} ${failure.kind === "auth" ? failure.advice : ""}`, "error",
        [["Try again", loadNext]]);
      return;
    }
    /** @type {Array<[string, () => void]>} */
    const choices = [];
    if (failure.kind === "expired") choices.push(["Take the crop back and submit", leaseAndSubmit]);
    else if (failure.kind !== "taken" && failure.kind !== "not_found") {
      choices.push([action === "skip" ? "Try skipping again" : "Try again", action === "skip" ? skip : submit]);
    }
    choices.push(["Download my mask", downloadMask]);
    if (["expired", "taken", "not_found"].includes(failure.kind)) choices.push(["Open the next crop (drop my edits)", discardAndNext]);
    showMessage(ui, `${action === "skip" ? "Not skipped" : "Not saved"}. ${failure.message} ${failure.advice}`, "error", choices);
  }

  /** After a lease ran out: lease the same crop again (the map on screen stays) and submit. */
  async function leaseAndSubmit() {
    const crop = session.crop;
    if (!crop || session.busy) return;
    setBusy(true, "Taking the crop back…");
    try {
      await api.lease(crop.id);
    } catch (error) {
      setBusy(false);
      showFailure(error, "submit");
      return;
    }
    setBusy(false);
    await submit();
  }

  function discardAndNext() {
    if (store.isDirty && !window.confirm("Drop your edits on this crop and open the next one?")) return;
    store.markSaved();
    loadNext();
  }

  /** The current mask as the API's JSON, as a file the labeller keeps. */
  function downloadMask() {
    if (!session.crop) return;
    const blob = new Blob([JSON.stringify(encodeRle(store.map))], { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `crop-${session.crop.id}-mask.rle.json`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  /** @param {boolean} busy @param {string} [text] */
  function setBusy(busy, text = "") {
    session.busy = busy;
    ui.submit.toggleAttribute("disabled", busy);
    ui.skip.toggleAttribute("disabled", busy);
    root.toggleAttribute("aria-busy", busy);
    if (busy) showMessage(ui, text, "info");
    else if (ui.message.classList.contains("ls-info")) ui.message.hidden = true;
  }

  /** @param {Crop} crop */
  function showCropInfo(crop) {
    const parts = [`Crop ${crop.id}`];
    if (crop.imageName) parts.push(crop.imageName);
    parts.push(`${crop.width}×${crop.height}`);
    if (crop.rank != null) parts.push(`rank ${crop.rank}`);
    if (crop.score != null) parts.push(`score ${Number(crop.score).toFixed(3)}${crop.reason ? ` (${crop.reason})` : ""}`);
    const p = crop.prediction;
    if (crop.currentAnnotation) parts.push(`correcting saved version ${crop.currentAnnotation.version}`);
    else parts.push(p ? `prediction by ${p.modelVersionName || "the model"}` : "no prediction yet: draw the cells");
    // What openCrop gave the renderer to draw: nothing of the model's when correcting a saved mask.
    const doubtful = renderer.flagged.size;
    if (doubtful === 1) parts.push("the cell the model is least sure of is outlined in red");
    if (doubtful > 1) parts.push(`the ${doubtful} cells the model is least sure of are outlined in red`);
    const places = renderer.places.length;
    if (places === 1) parts.push("the place where it may have missed a cell is circled in yellow");
    if (places > 1) parts.push(`the ${places} places where it may have missed a cell are circled in yellow`);
    ui.info.textContent = parts.join(" · ");
  }

  // ---- tools and commands ---------------------------------------------------------------------------

  const activeTool = () => /** @type {Tool} */ (tools.get(store.tool));

  /** @param {Event | undefined} event @returns {ToolContext} */
  function contextFor(event) {
    const e = /** @type {any} */ (event);
    return { store, paintOver: Boolean(e?.shiftKey), scale: store.view.scale, clicks: e?.detail > 0 ? e.detail : 1 };
  }

  /** @param {string} name @param {Event} [event] */
  function chooseTool(name, event) {
    const tool = tools.get(name);
    if (!tool || session.busy) return;
    const ctx = contextFor(event);
    if (tool.type === "action") {
      tool.run?.(ctx);
      return;
    }
    if (name !== store.tool) activeTool().cancel?.(ctx);
    store.setTool(name);
    tool.activate?.(ctx);
  }

  const CYCLE = { both: "outline", outline: "fill", fill: "both" };

  /** @type {Record<string, (event?: Event) => void>} */
  const commands = {
    undo: () => store.undo(),
    redo: () => store.redo(),
    "delete-selected": () => (store.selected
      ? store.commit(deleteCell(store.map, store.index, store.selected))
      : store.say("Select a cell first (V, then click it), then press Delete.", "warning")),
    escape: (event) => {
      if (store.draft?.type === "path" || session.drawing) activeTool().cancel?.(contextFor(event));
      else store.select(0);
    },
    "radius-down": () => store.setRadius(store.radius - Math.max(1, Math.round(store.radius * 0.2))),
    "radius-up": () => store.setRadius(store.radius + Math.max(1, Math.round(store.radius * 0.2))),
    fit: () => fit(),
    "zoom-in": () => zoomCentre(1.25),
    "zoom-out": () => zoomCentre(1 / 1.25),
    "toggle-masks": () => store.setDisplay({ masksVisible: !store.display.masksVisible }),
    "cycle-style": () => setStyle(CYCLE[styleOf(store.display)]),
    "opacity-down": () => store.setDisplay({ opacity: Math.max(0, Math.round(store.display.opacity * 10 - 1) / 10) }),
    "opacity-up": () => store.setDisplay({ opacity: Math.min(1, Math.round(store.display.opacity * 10 + 1) / 10) }),
    "channel-1": () => toggleChannel(0),
    "channel-2": () => toggleChannel(1),
    "channel-3": () => toggleChannel(2),
    "reset-display": () => store.setDisplay({ brightness: 0, contrast: 1, gamma: 1, channels: [...DEFAULT_DISPLAY.channels] }),
    submit: () => submit(),
    help: () => toggleHelp(),
  };

  function fit() {
    const { width, height } = store.map;
    store.setView(fitView(width, height, ui.canvas.clientWidth, ui.canvas.clientHeight));
  }

  /** @param {number} factor */
  function zoomCentre(factor) {
    store.setView(zoomAt(store.view, factor, ui.canvas.clientWidth / 2, ui.canvas.clientHeight / 2));
  }

  /** @param {number} k */
  function toggleChannel(k) {
    if (renderer.grey) {
      store.say("This image is grey: it has no colour channels to show or hide.", "info");
      return;
    }
    const channels = [...store.display.channels];
    channels[k] = !channels[k];
    store.setDisplay({ channels });
  }

  /** @param {import("./store.js").Display} d */
  const styleOf = (d) => (d.showFill && d.showOutline ? "both" : d.showOutline ? "outline" : "fill");
  /** @param {string} style */
  const setStyle = (style) => store.setDisplay({ showFill: style !== "outline", showOutline: style !== "fill" });

  /** @param {boolean} [show] */
  function toggleHelp(show = ui.helpOverlay.hidden) {
    ui.helpOverlay.hidden = !show;
  }

  // ---- pointer input --------------------------------------------------------------------------------

  /** @param {MouseEvent} event */
  function imagePoint(event) {
    const rect = ui.canvas.getBoundingClientRect();
    return screenToImage(store.view, event.clientX - rect.left, event.clientY - rect.top);
  }

  /** Keep getting moves while the button is down, even outside the canvas. @param {PointerEvent} event */
  function capturePointer(event) {
    try {
      ui.canvas.setPointerCapture(event.pointerId);
    } catch {
      // synthetic events (tests, benchmarks) have no active pointer to capture
    }
  }

  listen(ui.canvas, "pointerdown", (/** @type {PointerEvent} */ event) => {
    timer.poke();
    ui.canvas.focus();
    if (event.button === 1 || event.button === 2 || session.spaceHeld) {
      session.panFrom = { x: event.clientX, y: event.clientY };
      capturePointer(event);
      event.preventDefault();
      return;
    }
    if (event.button !== 0 || session.busy || !session.crop) return;
    capturePointer(event);
    session.drawing = true;
    activeTool().down?.(contextFor(event), imagePoint(event));
  });

  listen(ui.canvas, "pointermove", (/** @type {PointerEvent} */ event) => {
    if (session.panFrom) {
      store.setView(panBy(store.view, event.clientX - session.panFrom.x, event.clientY - session.panFrom.y));
      session.panFrom = { x: event.clientX, y: event.clientY };
      return;
    }
    timer.poke(); // looking closely is work too
    const p = imagePoint(event);
    store.setHover(store.map.idAt(p.x, p.y));
    const tool = activeTool();
    if (session.drawing) {
      const events = event.getCoalescedEvents?.() ?? [];
      for (const e of events.length ? events : [event]) tool.move?.(contextFor(event), imagePoint(e));
    } else {
      tool.hover?.(contextFor(event), p);
    }
  });

  const pointerEnd = (/** @type {PointerEvent} */ event) => {
    if (session.panFrom) {
      session.panFrom = null;
      return;
    }
    if (!session.drawing) return;
    session.drawing = false;
    activeTool().up?.(contextFor(event), imagePoint(event));
  };
  listen(ui.canvas, "pointerup", pointerEnd);
  listen(ui.canvas, "pointercancel", pointerEnd);
  listen(ui.canvas, "pointerleave", () => {
    store.setHover(0);
    if (store.draft?.type === "circle") store.setDraft(null);
  });
  listen(ui.canvas, "contextmenu", (event) => event.preventDefault());
  listen(ui.canvas, "wheel", (/** @type {WheelEvent} */ event) => {
    event.preventDefault();
    timer.poke();
    const rect = ui.canvas.getBoundingClientRect();
    store.setView(zoomAt(store.view, wheelFactor(event.deltaY, event.deltaMode), event.clientX - rect.left, event.clientY - rect.top));
  }, { passive: false });

  // ---- keyboard ---------------------------------------------------------------------------------------

  listen(window, "keydown", (/** @type {KeyboardEvent} */ event) => {
    if (isTyping(event.target)) return;
    timer.poke();
    const name = keyName(event);
    if (name === "space") {
      session.spaceHeld = true;
      event.preventDefault();
      return;
    }
    if (!ui.helpOverlay.hidden && ["escape", "?", "f1"].includes(name)) {
      toggleHelp(false);
      event.preventDefault();
      return;
    }
    if (session.busy && name !== "?") return;
    if (activeTool().onKey?.(contextFor(event), name)) {
      event.preventDefault();
      return;
    }
    const action = keymap.get(name);
    if (!action) return;
    event.preventDefault();
    if (action.tool) chooseTool(action.tool, event);
    else commands[/** @type {string} */ (action.command)]?.(event);
  });
  listen(window, "keyup", (/** @type {KeyboardEvent} */ event) => {
    if (event.key === " ") session.spaceHeld = false;
  });
  listen(window, "beforeunload", (/** @type {BeforeUnloadEvent} */ event) => {
    if (!store.isDirty) return;
    event.preventDefault();
    event.returnValue = "";
  });
  listen(document, "visibilitychange", () => timer.setVisible(document.visibilityState === "visible"));

  // ---- controls ---------------------------------------------------------------------------------------

  for (const [name, button] of ui.toolButtons) listen(button, "click", (event) => chooseTool(name, event));
  listen(ui.undo, "click", () => store.undo());
  listen(ui.redo, "click", () => store.redo());
  listen(ui.submit, "click", () => submit());
  listen(ui.skip, "click", () => skip());
  listen(ui.fit, "click", () => fit());
  listen(ui.help, "click", () => toggleHelp());
  listen(ui.helpOverlay, "click", (event) => { if (event.target === ui.helpOverlay) toggleHelp(false); });
  listen(ui.radius, "input", () => store.setRadius(Number(ui.radius.value)));
  listen(ui.opacity, "input", () => store.setDisplay({ opacity: Number(ui.opacity.value) / 100 }));
  listen(ui.style, "change", () => {
    setStyle(ui.style.value);
    ui.style.blur(); // a focused <select> would keep the keyboard shortcuts from working
  });
  listen(ui.masks, "change", () => store.setDisplay({ masksVisible: ui.masks.checked }));
  listen(ui.brightness, "input", () => store.setDisplay({ brightness: Number(ui.brightness.value) / 100 }));
  listen(ui.contrast, "input", () => store.setDisplay({ contrast: Number(ui.contrast.value) / 100 }));
  listen(ui.gamma, "input", () => store.setDisplay({ gamma: Number(ui.gamma.value) / 100 }));
  ui.channelBoxes.forEach((box, k) => listen(box, "change", () => {
    const channels = [...store.display.channels];
    channels[k] = box.checked;
    store.setDisplay({ channels });
  }));

  // ---- store -> page ----------------------------------------------------------------------------------

  let statusFrame = 0;
  const scheduleStatus = () => { if (!statusFrame) statusFrame = requestAnimationFrame(() => { statusFrame = 0; updateStatus(); }); };

  function updateStatus() {
    const { index, selected, hover, radius, view } = store;
    const edits = Object.values(store.editCounts()).reduce((a, b) => a + b, 0);
    const parts = [`${index.count} cells`];
    if (renderer.places.length) {
      const open = openPlaces(renderer.places, store.map).length;
      parts.push(`${open} circled place${open === 1 ? "" : "s"} to check`);
    }
    if (selected) parts.push(`selected: cell ${selected} (${index.area[selected]} px)`);
    if (hover) parts.push(`under the cursor: cell ${hover}`);
    parts.push(`${edits} edit${edits === 1 ? "" : "s"}${store.isDirty ? " (unsaved)" : ""}`);
    parts.push(`${formatDuration(timer.seconds())} on this crop`);
    if (store.tool === "brush" || store.tool === "eraser") parts.push(`radius ${radius}`);
    parts.push(`zoom ${Math.round(view.scale * 100)}%`);
    ui.status.textContent = parts.join(" · ");
  }

  function syncControls() {
    const d = store.display;
    ui.opacity.value = String(Math.round(d.opacity * 100));
    ui.style.value = styleOf(d);
    ui.masks.checked = d.masksVisible;
    ui.brightness.value = String(Math.round(d.brightness * 100));
    ui.contrast.value = String(Math.round(d.contrast * 100));
    ui.gamma.value = String(Math.round(d.gamma * 100));
    ui.channelBoxes.forEach((box, k) => { box.checked = d.channels[k]; });
  }

  cleanups.push(store.subscribe((event) => {
    switch (event.type) {
      case "history":
        ui.undo.toggleAttribute("disabled", !store.history.canUndo);
        ui.redo.toggleAttribute("disabled", !store.history.canRedo);
        scheduleStatus();
        break;
      case "tool":
        for (const [name, button] of ui.toolButtons) button.setAttribute("aria-pressed", String(name === store.tool));
        ui.canvas.style.cursor = activeTool().cursor ?? "default";
        ui.radius.value = String(store.radius);
        scheduleStatus();
        break;
      case "selection": case "hover": case "view": case "loaded":
        scheduleStatus();
        break;
      case "display":
        syncControls();
        break;
      case "message":
        showMessage(ui, event.text, event.level);
        break;
      case "command":
        if (event.name === "accept-all") submit();
        break;
    }
  }));
  const clock = setInterval(updateStatus, 1000);
  cleanups.push(() => clearInterval(clock));
  store.emit({ type: "tool", tool: store.tool });

  function destroy() {
    for (const cleanup of cleanups.splice(0)) cleanup();
    renderer.destroy();
  }

  return { store, renderer, ui, session, tools, loadNext, openCrop, submit, skip, chooseTool, commands, destroy };
}

/** What editing starts from: the crop's saved mask, else the model's prediction, else nothing. @param {Crop} crop */
export function startingMap(crop) {
  return (crop.currentAnnotation ?? crop.prediction)?.labelMap ?? new LabelMap(crop.width, crop.height);
}

/** @param {EventTarget | null} target */
function isTyping(target) {
  const el = /** @type {HTMLElement | null} */ (target);
  if (!el || !el.tagName) return false;
  if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
  return el.tagName === "INPUT" && !["range", "checkbox", "button", "radio"].includes(/** @type {HTMLInputElement} */ (el).type);
}

/** @param {string} url @returns {Promise<HTMLImageElement>} */
function loadImageElement(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`the crop image ${url} did not load`));
    image.src = url;
  });
}
