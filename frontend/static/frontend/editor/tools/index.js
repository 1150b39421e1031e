// The tool registry: name -> tool. The page builds its toolbar, shortcuts and help from it.

import { createAcceptAllTool } from "./accept.js";
import { createAssistTool } from "./assist.js";
import { createBrushTool, createEraserTool } from "./brush.js";
import { createDeleteTool } from "./delete.js";
import { createFillHolesTool } from "./fillholes.js";
import { createLassoTool } from "./lasso.js";
import { createMergeTool } from "./merge.js";
import { createPolygonTool } from "./polygon.js";
import { createSelectTool } from "./select.js";
import { createSplitTool } from "./split.js";

/** @typedef {import("./tool.js").Tool} Tool */

/** Built-in tools in toolbar order. Each factory makes a fresh tool (tools keep drawing state). */
export const BUILTIN_TOOLS = [
  createSelectTool, createDeleteTool, createAssistTool, createLassoTool, createPolygonTool, createBrushTool,
  createEraserTool, createMergeTool, createSplitTool, createFillHolesTool, createAcceptAllTool,
];

/** @param {Array<() => Tool>} [factories] @returns {Map<string, Tool>} */
export function createToolRegistry(factories = BUILTIN_TOOLS) {
  /** @type {Map<string, Tool>} */
  const tools = new Map();
  const keys = new Set();
  for (const factory of factories) {
    const tool = factory();
    if (tools.has(tool.name)) throw new Error(`two tools are named ${tool.name}`);
    if (keys.has(tool.key)) throw new Error(`two tools use the key ${tool.key}`);
    tools.set(tool.name, tool);
    keys.add(tool.key);
  }
  return tools;
}
