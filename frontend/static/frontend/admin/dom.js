// Small DOM and formatting helpers shared by the admin pages.

/**
 * @param {string} tag @param {Record<string, any>} [attrs] @param {...(Node | string | null | undefined)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) el.append(child);
  return el;
}

/** Show a message in a notice element. @param {HTMLElement} el @param {string} text @param {"ok"|"info"|"warning"|"error"} level */
export function notify(el, text, level = "info") {
  el.className = `notice ${level}`;
  el.textContent = text;
  el.hidden = !text;
}

/** @param {number | null | undefined} x @param {number} [digits] */
export function fixed(x, digits = 3) {
  return x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(digits);
}

/** @param {string | null | undefined} iso */
export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** @param {number} bytes */
export function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
}

/** A status word as a coloured pill. @param {string} text @param {string} [kind] */
export function pill(text, kind = text) {
  return h("span", { class: `pill ${kind}` }, text);
}

/** The project id the admin page was rendered for. */
export function projectId() {
  return /** @type {HTMLElement} */ (document.querySelector("[data-project-id]")).dataset.projectId;
}
