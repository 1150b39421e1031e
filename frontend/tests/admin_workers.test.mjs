// The Training page's words for a worker's device (frontend/static/frontend/admin/workers.js).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { deviceText, queuesText } from "../static/frontend/admin/workers.js";

describe("worker device", () => {
  it("names a GPU with its memory, and says when the worker sees several", () => {
    assert.equal(deviceText({ device: "cuda", name: "NVIDIA H100 80GB HBM3", memory_bytes: 85_017_624_576, count: 1 }),
      "NVIDIA H100 80GB HBM3, 79.2 GiB");
    assert.equal(deviceText({ device: "cuda", name: "NVIDIA A10", memory_bytes: 24 * 1024 ** 3, count: 2 }),
      "NVIDIA A10, 24.0 GiB (1 of 2 GPUs)");
  });

  it("says cpu, a failed probe's reason, or that the worker is still finding out", () => {
    assert.equal(deviceText({ device: "cpu", name: "cpu" }), "cpu");
    assert.equal(deviceText({ device: "unavailable", error: "device 'cuda' was asked for" }),
      "unavailable: device 'cuda' was asked for");
    assert.equal(deviceText(null), "finding out…");
  });

  it("lists the queues", () => {
    assert.equal(queuesText(["default", "gpu"]), "default, gpu");
    assert.equal(queuesText([]), "–");
  });
});
