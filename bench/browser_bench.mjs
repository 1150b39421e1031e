// In-browser part of the editor benchmark (bench/editor_bench.html, driven by bench/browser_bench.py):
// mounts the real editor with a fake API serving a synthetic 2048x2048 crop with 2,000 predicted
// cells, then times opening the crop and edits made with real (synthetic) pointer and key events,
// up to the frame that shows them. Results go to window.benchResults.

import { cropFromJson } from "../frontend/static/frontend/editor/api.js";
import { encodeRle } from "../frontend/static/frontend/editor/codec.js";
import { mountLabeller } from "../frontend/static/frontend/editor/editor.js";
import { imageToScreen } from "../frontend/static/frontend/editor/viewport.js";
import { syntheticCrop, syntheticImage } from "./synthetic.mjs";

const params = new URLSearchParams(location.search);
const SIZE = Number(params.get("size") ?? 2048), CELLS = Number(params.get("cells") ?? 2000), RUNS = Number(params.get("runs") ?? 15);

const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve(undefined)));
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], max: s[s.length - 1], runs: s.length };
};

async function pngUrl(rgba, width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  canvas.getContext("2d").putImageData(new ImageData(rgba, width, height), 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  return URL.createObjectURL(blob);
}

async function main() {
  const { map, centres } = syntheticCrop({ width: SIZE, height: SIZE, cells: CELLS });
  const imageUrl = await pngUrl(syntheticImage(map), SIZE, SIZE);
  const body = JSON.stringify({
    id: 1, width: SIZE, height: SIZE, display_url: imageUrl, image_name: "synthetic.png", queue_score: 0.5,
    queue_reason: "uncertainty", current_annotation: null,
    prediction: { id: 1, model_version: { id: 1, number: 1 }, mask: encodeRle(map), cell_uncertainty: { 5: 0.9, 17: 0.8 } },
  });
  const submitted = [];
  const api = {
    nextCrop: async () => cropFromJson(JSON.parse(body)), // the real adapter's parsing and decoding
    submit: async (id, submission) => { submitted.push(submission); },
    skip: async () => null,
    lease: async () => cropFromJson(JSON.parse(body)),
  };
  const editor = mountLabeller(document.getElementById("labeller"), { projectId: 1, api });
  const { store, renderer, ui } = editor;

  const t0 = performance.now();
  await editor.flow.loadNext();
  await frame();
  const open = { ms: performance.now() - t0, inLoadNext: editor.flow.openMs, bytes: body.length };

  const canvas = ui.canvas;
  const rect = () => canvas.getBoundingClientRect();
  const at = (p) => {
    const s = imageToScreen(store.view, p.x, p.y);
    return { clientX: rect().left + s.x, clientY: rect().top + s.y };
  };
  const pointer = (type, p, extra = {}) => canvas.dispatchEvent(new PointerEvent(type, {
    bubbles: true, cancelable: true, pointerId: 1, isPrimary: true, button: type === "pointermove" ? -1 : 0,
    buttons: type === "pointerup" ? 0 : 1, detail: 1, ...at(p), ...extra,
  }));
  const drag = (points, extra) => {
    pointer("pointerdown", points[0], extra);
    for (const p of points.slice(1)) pointer("pointermove", p, extra);
    pointer("pointerup", points[points.length - 1], extra);
  };
  const key = (k, extra = {}) => window.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, ...extra }));

  // Zoom so cells are a comfortable size on screen, as a labeller would (fit shows 2048 px in ~1000).
  const results = { open };
  const timeEdit = async (name, perform) => {
    const toFrame = [], toPainted = [], sync = [], overlay = [], compose = [];
    for (let k = 0; k < RUNS; k++) {
      const start = performance.now();
      perform(k);
      await frame(); // the renderer's frame was requested first, so it has drawn by now
      toFrame.push(performance.now() - start);
      await frame(); // and the frame after: by then the browser has painted the one before
      toPainted.push(performance.now() - start);
      overlay.push(renderer.stats.overlayMs);
      compose.push(renderer.stats.composeMs);
      const s = performance.now();
      renderer.draw();
      sync.push(performance.now() - s);
    }
    results[name] = { toFrame: stats(toFrame), toNextFrame: stats(toPainted), overlayMs: stats(overlay).median, composeMs: stats(compose).median, redrawSyncMs: stats(sync).median };
  };
  const centre = (k, salt) => centres[(k * 37 + salt) % centres.length];

  await timeEdit("no change (one frame)", () => undefined);
  await timeEdit("recompose only (view nudged)", (k) => store.setView({ ...store.view, offsetX: store.view.offsetX + (k % 2 ? 1 : -1) }));
  key("d");
  await timeEdit("delete (click)", (k) => drag([centre(k, 1)]));
  await timeEdit("undo (Ctrl+Z)", () => key("z", { ctrlKey: true }));
  await timeEdit("redo (Ctrl+Shift+Z)", () => key("Z", { ctrlKey: true, shiftKey: true }));
  key("l");
  await timeEdit("lasso (80-point loop, 60 px)", (k) => {
    const c = centre(k, 11);
    drag(Array.from({ length: 80 }, (_, j) => ({ x: c.x + 30 * Math.cos((j / 80) * 2 * Math.PI), y: c.y + 30 * Math.sin((j / 80) * 2 * Math.PI) })));
  });
  key("b");
  await timeEdit("brush stroke (20 moves, radius 6)", (k) => {
    const c = centre(k, 5);
    drag(Array.from({ length: 20 }, (_, j) => ({ x: c.x + j, y: c.y + j / 2 })));
  });
  key("m");
  await timeEdit("merge (two clicks)", (k) => {
    const c = centre(k, 3);
    key("Escape"); // a new pair each time
    drag([c]);
    drag([{ x: c.x + SIZE / Math.sqrt(CELLS), y: c.y }]);
  });
  key("s");
  await timeEdit("split (drag across)", (k) => {
    const c = centre(k, 7);
    drag([{ x: c.x - 40, y: c.y - 2 }, { x: c.x, y: c.y }, { x: c.x + 40, y: c.y + 2 }]);
  });
  key("h");
  await timeEdit("fill holes (click)", (k) => drag([centre(k, 13)]));
  await timeEdit("zoom (wheel)", (k) => canvas.dispatchEvent(new WheelEvent("wheel", { deltaY: k % 2 ? 120 : -120, bubbles: true, cancelable: true, ...at(centre(k, 1)) })));
  await timeEdit("hover (pointer over cells)", (k) => pointer("pointermove", centre(k, 21), { buttons: 0 }));
  key(",");
  await timeEdit("opacity change (full overlay)", (k) => key(k % 2 ? "," : "."));

  const t1 = performance.now();
  await editor.flow.submit(); // encodes, "sends", and opens the next crop (the same synthetic one)
  results.submitAndReopenMs = performance.now() - t1;
  results.submittedEditCounts = submitted.length === 1 ? submitted[0].editCounts : submitted.length;

  // Leave the editor zoomed in on a flagged cell, one selected, a lasso half drawn: for the screenshot.
  const c = centres[4];
  store.setView({ scale: 3, offsetX: canvas.clientWidth / 2 - c.x * 3, offsetY: canvas.clientHeight / 2 - c.y * 3 });
  store.select(store.map.idAt(centres[5].x, centres[5].y));
  key("l");
  const n = centres[6];
  pointer("pointerdown", { x: n.x - 20, y: n.y });
  for (let j = 0; j < 30; j++) pointer("pointermove", { x: n.x - 20 * Math.cos(j / 20 * Math.PI), y: n.y - 20 * Math.sin(j / 20 * Math.PI) });
  pointer("pointermove", centres[7], { buttons: 0 });
  await frame();
  results.cells = store.index.count;
  results.device = { devicePixelRatio: devicePixelRatio, canvas: `${canvas.width}x${canvas.height}`, userAgent: navigator.userAgent };
  window.benchResults = results;
}

main().catch((error) => { window.benchResults = { error: String(error && error.stack || error) }; });
