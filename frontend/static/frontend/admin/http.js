// Calls to the REST API from the admin pages: JSON in and out with the session cookie and the
// CSRF token, failures as ApiFailure with the server's own words; uploads with progress.

/** A request the server refused or could not answer. */
export class ApiFailure extends Error {
  name = "ApiFailure";

  /**
   * @param {string} message @param {number} status 0 when the server was not reached
   * @param {any} [body] the server's JSON answer, for its problems by field
   */
  constructor(message, status, body = null) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Django's CSRF token from the csrftoken cookie ("" when absent). */
export function csrfToken(cookieString = document.cookie) {
  for (const part of cookieString.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "csrftoken") return decodeURIComponent(rest.join("="));
  }
  return "";
}

/**
 * @param {string} path @param {{method?: string, body?: unknown}} [options]
 * @returns {Promise<any>} the JSON answer, or null for 204
 */
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiFailure(`Could not reach the server (${error instanceof Error ? error.message : error}).`, 0);
  }
  const text = await response.text();
  const json = text ? parseJson(text) : null;
  if (!response.ok) throw new ApiFailure(explain(response.status, json), response.status, json);
  return json;
}

/**
 * POST a form (files) with upload progress: XHR, because fetch reports no upload progress.
 * @param {string} path @param {FormData} form @param {(fraction: number) => void} onProgress
 * @returns {{done: Promise<any>, abort: () => void}}
 */
export function uploadForm(path, form, onProgress) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.open("POST", path);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
    xhr.addEventListener("load", () => {
      const json = xhr.responseText ? parseJson(xhr.responseText) : null;
      if (xhr.status >= 200 && xhr.status < 300) resolve(json);
      else reject(new ApiFailure(explain(xhr.status, json), xhr.status, json));
    });
    xhr.addEventListener("error", () => reject(new ApiFailure("The upload did not reach the server (network error).", 0)));
    xhr.addEventListener("abort", () => reject(new ApiFailure("Upload cancelled.", 0)));
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}

/** @param {string} text */
function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200) };
  }
}

/** The server's error in one sentence. @param {number} status @param {any} json */
export function explain(status, json) {
  if (status === 401 || status === 403) {
    return `Not allowed (error ${status}): you may be logged out, or not an admin of this project.${said(json)}`;
  }
  if (status >= 500) return `The server failed (error ${status}). Try again in a moment.${said(json)}`;
  return `The server refused (error ${status}).${said(json)}`;
}

/** @param {any} json */
function said(json) {
  if (!json) return "";
  if (typeof json.detail === "string") return ` ${json.detail}`;
  const fields = Object.entries(json).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(" ") : JSON.stringify(v)}`);
  return fields.length ? ` ${fields.join("; ")}` : "";
}
