// Which dropped label image belongs to which image: the same file name, or the image's name plus
// _mask, _masks, _label, _labels or _seg (any extension, any case). Pure.

const LABEL_SUFFIX = /[_-](masks?|labels?|seg)$/;

/** A file name without its extension(s) (".ome.tif" counts as one), lower-case. @param {string} name */
export function stem(name) {
  return name.toLowerCase().replace(/(\.ome)?\.[a-z0-9]+$/, "");
}

/**
 * @template {{name: string}} F
 * @param {F[]} images @param {F[]} labels
 * @returns {{pairs: Array<{image: F, label: F | null}>, unmatched: F[]}}
 */
export function pairFiles(images, labels) {
  const byStem = new Map();
  for (const label of labels) {
    const s = stem(label.name);
    byStem.set(s, label);
    const bare = s.replace(LABEL_SUFFIX, "");
    if (!byStem.has(bare)) byStem.set(bare, label);
  }
  const used = new Set();
  const pairs = images.map((image) => {
    const label = byStem.get(stem(image.name)) ?? null;
    if (label) used.add(label);
    return { image, label };
  });
  return { pairs, unmatched: labels.filter((label) => !used.has(label)) };
}
