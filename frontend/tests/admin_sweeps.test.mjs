// The Sweeps page's words and geometry (frontend/static/frontend/admin/sweep_view.js).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { bestSoFarGeometry, durationText, importanceRows, numberList, paramsText } from "../static/frontend/admin/sweep_view.js";

describe("sweep view", () => {
  it("says a trial's settings and duration briefly", () => {
    assert.equal(paramsText({ learning_rate: 0.002613, batch_size: 4, start_from: "active" }),
      "learning_rate 0.0026, batch_size 4, start_from active");
    assert.equal(paramsText({}), "–");
    assert.equal(durationText(42.4), "42 s");
    assert.equal(durationText(150), "2.5 min");
    assert.equal(durationText(null), "–");
  });

  it("reads lists of numbers and refuses what is not one", () => {
    assert.deepEqual(numberList("0.25, 0.5 1"), [0.25, 0.5, 1]);
    assert.equal(numberList("0.25, half"), null);
  });

  it("draws the running best as steps that never go down", () => {
    const g = bestSoFarGeometry([
      { completed: 1, number: 0, value: 0.5, best: 0.5 },
      { completed: 2, number: 2, value: 0.4, best: 0.5 },
      { completed: 3, number: 1, value: 0.7, best: 0.7 },
    ]);
    assert.equal(g.dots.length, 3);
    assert.deepEqual(g.dots.map((d) => d.best), [true, false, true]);
    const ys = g.steps.split(" ").map((p) => Number(p.split(",")[1]));
    for (let i = 1; i < ys.length; i++) assert.ok(ys[i] <= ys[i - 1], "a lower y is a higher value");
    assert.equal(bestSoFarGeometry([]).dots.length, 0);
  });

  it("orders importances, the largest as the full bar", () => {
    assert.deepEqual(importanceRows({ batch_size: 0.2, learning_rate: 0.8 }).map((r) => [r.name, r.width]),
      [["learning_rate", 100], ["batch_size", 25]]);
    assert.deepEqual(importanceRows(null), []);
  });
});
