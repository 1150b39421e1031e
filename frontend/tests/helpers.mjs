// Shared by the editor's node tests: fixtures and small label maps.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const EDITOR = new URL("../static/frontend/editor/", import.meta.url);

/** @param {string} name a file in frontend/tests/fixtures */
export function fixture(name) {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`fixtures/${name}`, import.meta.url)), "utf8"));
}

/** A map from a picture: one character per pixel, "." = 0, digits and letters = ids (a=10 ...). */
export function picture(...rows) {
  return rows.map((row) => [...row].map((c) => (c === "." ? 0 : parseInt(c, 36))));
}

/** The centre of pixel (x, y) as a point. */
export const centre = (x, y) => ({ x: x + 0.5, y: y + 0.5 });
