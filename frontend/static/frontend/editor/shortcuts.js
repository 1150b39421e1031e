// Keyboard shortcuts: key names, the page-wide commands, and the help overlay's rows. Pure.

/** @typedef {import("./tools/tool.js").Tool} Tool */

/**
 * @typedef {{keys: string[], command: string, label: string}} Shortcut
 */

/** Shortcuts that work whatever the tool. Command names are handled by editor.js. */
export const GLOBAL_SHORTCUTS = /** @type {Shortcut[]} */ ([
  { keys: ["ctrl+z"], command: "undo", label: "Undo" },
  { keys: ["ctrl+shift+z", "ctrl+y"], command: "redo", label: "Redo" },
  { keys: ["delete", "backspace"], command: "delete-selected", label: "Delete the selected cell" },
  { keys: ["escape"], command: "escape", label: "Cancel the drawing, then clear the selection" },
  { keys: ["["], command: "radius-down", label: "Smaller brush / eraser" },
  { keys: ["]"], command: "radius-up", label: "Larger brush / eraser" },
  { keys: ["0"], command: "fit", label: "Fit the crop to the window" },
  { keys: ["+", "="], command: "zoom-in", label: "Zoom in" },
  { keys: ["-"], command: "zoom-out", label: "Zoom out" },
  { keys: ["x"], command: "toggle-masks", label: "Hide / show the cells (peek at the image)" },
  { keys: ["o"], command: "cycle-style", label: "Cells as fill + outline, outline only, fill only" },
  { keys: [","], command: "opacity-down", label: "Fainter fills" },
  { keys: ["."], command: "opacity-up", label: "Stronger fills" },
  { keys: ["1"], command: "channel-1", label: "Show / hide the red channel (colour images)" },
  { keys: ["2"], command: "channel-2", label: "Show / hide the green channel" },
  { keys: ["3"], command: "channel-3", label: "Show / hide the blue channel" },
  { keys: ["r"], command: "reset-display", label: "Reset brightness, contrast, gamma and channels" },
  { keys: ["ctrl+enter"], command: "submit", label: "Submit the crop and open the next" },
  { keys: ["?", "f1"], command: "help", label: "Show / hide this help" },
]);

/** Shortcuts of the review mode only (editor/review.js). */
export const REVIEW_SHORTCUTS = /** @type {Shortcut[]} */ ([
  { keys: ["t"], command: "toggle-prediction", label: "Review: show the submitted mask / the model's prediction (read-only)" },
]);

/** Pointer gestures, for the help overlay. */
export const POINTER_HELP = [
  ["Wheel", "Zoom at the cursor"],
  ["Space + drag, middle or right drag", "Pan"],
  ["Shift (while finishing an edit)", "Paint over: the edit may take pixels from other cells"],
  ["Alt+click (Assist tool)", "The model redraws the cell under the cursor (or says it has nothing better)"],
];

/**
 * A key event as a name: modifiers then the key, lower-case ("ctrl+shift+z", "enter", "?").
 * Cmd counts as Ctrl. Shift is left out for symbol keys, whose character already says it.
 * @param {{key: string, ctrlKey?: boolean, metaKey?: boolean, shiftKey?: boolean, altKey?: boolean}} event
 */
export function keyName(event) {
  const key = event.key === " " ? "space" : event.key.toLowerCase();
  const parts = [];
  if (event.ctrlKey || event.metaKey) parts.push("ctrl");
  if (event.altKey) parts.push("alt");
  const symbol = key.length === 1 && !/[a-z0-9]/.test(key);
  if (event.shiftKey && !symbol) parts.push("shift");
  parts.push(key);
  return parts.join("+");
}

/**
 * Key name -> what it does: {tool} to choose a tool, {command} for a page-wide command.
 * @param {Iterable<Tool>} tools @param {Shortcut[]} [extra] the mode's own (REVIEW_SHORTCUTS)
 * @returns {Map<string, {tool?: string, command?: string}>}
 */
export function buildKeymap(tools, extra = []) {
  const map = new Map();
  for (const tool of tools) map.set(tool.key, { tool: tool.name });
  for (const shortcut of [...GLOBAL_SHORTCUTS, ...extra]) {
    for (const key of shortcut.keys) {
      if (map.has(key)) throw new Error(`key ${key} is used twice`);
      map.set(key, { command: shortcut.command });
    }
  }
  return map;
}

/** Rows for the help overlay: [keys, what]. @param {Iterable<Tool>} tools @param {Shortcut[]} [extra] @returns {string[][]} */
export function helpRows(tools, extra = []) {
  const rows = [];
  for (const tool of tools) rows.push([tool.key.toUpperCase(), `${tool.label}: ${tool.help}`]);
  for (const s of [...GLOBAL_SHORTCUTS, ...extra]) rows.push([s.keys.map(prettyKey).join(" / "), s.label]);
  for (const [keys, what] of POINTER_HELP) rows.push([keys, what]);
  return rows;
}

/** @param {string} key */
function prettyKey(key) {
  const parts = key === "+" ? ["+"] : key.split("+");
  return parts.map((part) => (part.length === 1 ? part.toUpperCase() : part[0].toUpperCase() + part.slice(1))).join("+");
}
