// The upload page's rule for pairing label images with images (frontend/static/frontend/admin/pairing.js).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { pairFiles, stem } from "../static/frontend/admin/pairing.js";

const file = (name) => ({ name });

describe("upload pairing", () => {
  it("strips extensions, OME-TIFF's two included", () => {
    assert.equal(stem("A.OME.TIF"), "a");
    assert.equal(stem("cells_01.png"), "cells_01");
  });

  it("pairs by the same name or the name plus a label suffix, and reports label images without an image", () => {
    const images = [file("a.png"), file("b.tif"), file("c.png"), file("d.png")];
    const labels = [file("a.png"), file("b_masks.tif"), file("C-label.PNG"), file("zzz_mask.png")];
    const { pairs, unmatched } = pairFiles(images, labels);
    assert.deepEqual(pairs.map((p) => p.label?.name ?? null), ["a.png", "b_masks.tif", "C-label.PNG", null]);
    assert.deepEqual(unmatched.map((f) => f.name), ["zzz_mask.png"]);
  });

  it("prefers a label image named exactly like the image", () => {
    const { pairs } = pairFiles([file("a.png")], [file("a_mask.png"), file("a.tif")]);
    assert.equal(pairs[0].label?.name, "a.tif");
  });
});
