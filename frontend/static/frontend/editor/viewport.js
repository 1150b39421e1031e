// View transform maths: screen = image * scale + offset (CSS pixels of the canvas). Pure.

/** @typedef {import("./store.js").View} View */
/** @typedef {import("./geometry.js").Point} Point */

export const MIN_SCALE = 0.05;
export const MAX_SCALE = 64;

/**
 * The view that shows the whole image centred in the canvas.
 * @param {number} imageW @param {number} imageH @param {number} canvasW @param {number} canvasH
 * @returns {View}
 */
export function fitView(imageW, imageH, canvasW, canvasH) {
  if (!imageW || !imageH || !canvasW || !canvasH) return { scale: 1, offsetX: 0, offsetY: 0 };
  const scale = clampScale(Math.min(canvasW / imageW, canvasH / imageH) * 0.98);
  return { scale, offsetX: (canvasW - imageW * scale) / 2, offsetY: (canvasH - imageH * scale) / 2 };
}

/**
 * Zoom by `factor`, keeping the image point under the screen point (sx, sy) where it is.
 * @param {View} view @param {number} factor @param {number} sx @param {number} sy @returns {View}
 */
export function zoomAt(view, factor, sx, sy) {
  const scale = clampScale(view.scale * factor);
  const k = scale / view.scale;
  return { scale, offsetX: sx - (sx - view.offsetX) * k, offsetY: sy - (sy - view.offsetY) * k };
}

/** @param {View} view @param {number} dx screen pixels @param {number} dy @returns {View} */
export function panBy(view, dx, dy) {
  return { scale: view.scale, offsetX: view.offsetX + dx, offsetY: view.offsetY + dy };
}

/** @param {View} view @param {number} sx @param {number} sy @returns {Point} */
export function screenToImage(view, sx, sy) {
  return { x: (sx - view.offsetX) / view.scale, y: (sy - view.offsetY) / view.scale };
}

/** @param {View} view @param {number} x @param {number} y @returns {Point} */
export function imageToScreen(view, x, y) {
  return { x: x * view.scale + view.offsetX, y: y * view.scale + view.offsetY };
}

/** Wheel delta (pixels or lines) to a zoom factor; one notch of a mouse wheel is about 1.2x. */
export function wheelFactor(deltaY, deltaMode = 0) {
  const pixels = deltaMode === 1 ? deltaY * 33 : deltaMode === 2 ? deltaY * 400 : deltaY;
  return Math.exp(-pixels * 0.0018);
}

/** @param {number} scale */
function clampScale(scale) {
  return Math.min(MAX_SCALE, Math.max(MIN_SCALE, scale));
}
