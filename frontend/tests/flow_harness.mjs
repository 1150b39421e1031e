// Shared by the flow tests: crops as api.js hands them over, an API that answers from lists, and a
// page that records what it is asked to show.

import { labelMapFromRows } from "../static/frontend/editor/labelmap.js";
import { picture } from "./helpers.mjs";

/** A crop as api.js hands it over, with a prediction of two cells. */
export function cropNumbered(id, extra = {}) {
  return {
    id, width: 4, height: 2, imageUrl: `/crops/${id}.png`, imageName: "plate1.tif", rank: 2, score: 0.5, reason: "uncertainty",
    leaseExpiresAt: null, currentAnnotation: null, blind: false,
    prediction: { labelMap: labelMapFromRows(picture("11.2", "11.2")), modelVersionId: 7, modelVersionName: "model v3", uncertainCells: [2], missedPlaces: [] },
    ...extra,
  };
}

/**
 * An API whose methods answer from a list each (an Error is thrown; an empty list answers the
 * fallback), recording every call in `calls` as [name, ...arguments] (the method's name, or its
 * short name from `names`).
 * @param {Record<string, unknown[]>} answers @param {Record<string, unknown>} [fallbacks]
 * @param {Record<string, string>} [names]
 */
export function fakeApi(answers, fallbacks = {}, names = {}) {
  const calls = [];
  const api = {};
  for (const name of new Set([...Object.keys(answers), ...Object.keys(fallbacks)])) {
    api[name] = async (...args) => {
      calls.push([names[name] ?? name, ...args]);
      const list = answers[name] ?? [];
      const answer = list.length ? list.shift() : fallbacks[name] ?? null;
      if (answer instanceof Error) throw answer;
      return answer;
    };
  }
  return { api, calls };
}

/** A page port that records what it is asked to show; confirm answers `confirm`. */
export function recordingPage({ confirm = true } = {}) {
  const shown = [];
  const record = (name) => (...args) => { shown.push([name, ...args]); };
  const page = {
    setBusy: (busy, text) => shown.push(["busy", busy, text]),
    showImage: (crop, image, marks) => shown.push(["image", crop.id, image, [...marks.flagged]]),
    showOpened: record("opened"),
    showNote: record("note"),
    showInfo: record("info"),
    showFailure: record("failure"),
    showReview: record("review"),
    needComment: record("need-comment"),
    confirm: (question) => { shown.push(["confirm", question]); return confirm; },
    download: record("download"),
  };
  const failure = () => shown.filter(([what]) => what === "failure").at(-1);
  const choose = (label) => failure()[2].find(([l]) => l === label)[1]();
  return { page, shown, failure, choose };
}
