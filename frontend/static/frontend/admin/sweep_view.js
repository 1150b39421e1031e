// What the Sweeps page says and draws about a sweep, without the DOM: a trial's settings in
// words, durations, the best-so-far curve's geometry, importances as shares.

/** A trial's settings: "learning_rate 0.0026, batch_size 4". @param {Record<string, any>} params */
export function paramsText(params) {
  const entries = Object.entries(params ?? {});
  if (!entries.length) return "–";
  return entries.map(([k, v]) => `${k} ${typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(2)) : v}`).join(", ");
}

/** @param {number | null | undefined} seconds */
export function durationText(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  return `${(seconds / 60).toFixed(1)} min`;
}

/** "0.25, 0.5, 1" → [0.25, 0.5, 1]; null when a part is not a number. @param {string} text */
export function numberList(text) {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  const numbers = parts.map(Number);
  return numbers.some((n) => Number.isNaN(n)) ? null : numbers;
}

/**
 * The best-so-far curve in a width x height box: each completed trial's objective as a dot, the
 * running best as a step line, the y axis from the lowest value shown (or 0) to the highest.
 * @param {{completed: number, number: number, value: number, best: number}[]} curve
 */
export function bestSoFarGeometry(curve, width = 480, height = 220, margin = { left: 44, right: 12, top: 12, bottom: 30 }) {
  const left = margin.left, right = width - margin.right, top = margin.top, bottom = height - margin.bottom;
  if (!curve.length) return { left, right, top, bottom, dots: [], steps: "", yTicks: [], xTicks: [] };
  const values = curve.map((p) => p.value);
  const low = Math.max(0, Math.floor(Math.min(...values) * 10) / 10);
  const high = Math.min(1, Math.ceil(Math.max(...values) * 10) / 10);
  const span = high - low || 0.1;
  const x = (i) => left + (curve.length === 1 ? (right - left) / 2 : ((i - 1) / (curve.length - 1)) * (right - left));
  const y = (v) => bottom - ((v - low) / span) * (bottom - top);
  const dots = curve.map((p) => ({ x: x(p.completed), y: y(p.value), number: p.number, value: p.value, best: p.value === p.best }));
  let steps = `${x(1)},${y(curve[0].best)}`;
  for (let i = 1; i < curve.length; i++) steps += ` ${x(curve[i].completed)},${y(curve[i - 1].best)} ${x(curve[i].completed)},${y(curve[i].best)}`;
  const yTicks = [0, 0.5, 1].map((f) => ({ y: y(low + f * span), label: (low + f * span).toFixed(2) }));
  const xTicks = curve.map((p) => ({ x: x(p.completed), label: String(p.completed) }));
  return { left, right, top, bottom, dots, steps, yTicks, xTicks };
}

/** Importances as rows, largest first, with a bar width in percent. @param {Record<string, number> | null} importances */
export function importanceRows(importances) {
  if (!importances) return [];
  const rows = Object.entries(importances).sort((a, b) => b[1] - a[1]);
  const top = rows.length ? rows[0][1] || 1 : 1;
  return rows.map(([name, share]) => ({ name, share, width: Math.round((share / top) * 100) }));
}
