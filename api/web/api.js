// The REST API as the page uses it: the key (this tab only), JSON requests whose failures carry the API's
// error shape, a job's Server-Sent Events read with fetch (EventSource cannot send the key), and uploads
// with their progress.

const KEY_ITEM = "sleuth.apiKey";

export const key = {
  get: () => sessionStorage.getItem(KEY_ITEM) || "",
  set: (value) => sessionStorage.setItem(KEY_ITEM, value.trim()),
  clear: () => sessionStorage.removeItem(KEY_ITEM),
};

/** A failed request: the HTTP status and the API's {code, message, details}. */
export class ApiProblem extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

function headers(extra = {}) {
  const value = key.get();
  return value ? { Authorization: `Bearer ${value}`, ...extra } : { ...extra };
}

async function problemOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const error = body && body.error ? body.error : {};
  const message = error.message || `${response.status} ${response.statusText || "error"}`;
  return new ApiProblem(response.status, error.code || "error", message, error.details);
}

/** The JSON answer of a request; an ApiProblem when it fails (also when the server cannot be reached). */
export async function request(method, path, body = undefined, signal = undefined) {
  const init = { method, headers: headers(), signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiProblem(0, "unreachable", "the server cannot be reached");
  }
  if (!response.ok) throw await problemOf(response);
  return response.status === 204 ? null : response.json();
}

function parseBlock(block) {
  const message = { event: "message", data: "", id: null };
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") message.event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") message.id = value;
  }
  message.data = data.join("\n");
  return data.length ? message : null;
}

async function* messages(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer = (buffer + value).replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const message = parseBlock(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
      if (message) yield message;
    }
  }
}

/**
 * Follow a job's events until `end`: onTrace(event) for each trace event, then the job's final status is
 * returned. A dropped connection resumes after the last event seen (Last-Event-ID), a few times.
 */
export async function followJob(path, onTrace, signal, retries = 3) {
  let lastId = null;
  for (let attempt = 0; attempt <= retries; attempt += 1) {
    const extra = lastId === null ? {} : { "Last-Event-ID": lastId };
    let response;
    try {
      response = await fetch(path, { headers: headers({ Accept: "text/event-stream", ...extra }), signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    if (!response.ok) throw await problemOf(response);
    try {
      for await (const message of messages(response)) {
        const data = JSON.parse(message.data);
        if (message.event === "trace") {
          lastId = message.id;
          onTrace(data);
        } else if (message.event === "end") {
          return data;
        } else if (message.event === "error") {
          throw new ApiProblem(503, data.error?.code || "error", data.error?.message || "the stream failed");
        }
      }
    } catch (error) {
      if (error.name === "AbortError" || error instanceof ApiProblem) throw error;
    }
  }
  throw new ApiProblem(0, "unreachable", "the job's event stream was lost");
}

/** Upload a file (POST /v1/uploads); onProgress(fraction) as it is sent. Resolves to {upload_id, ...}. */
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/v1/uploads?filename=${encodeURIComponent(file.name)}`);
    for (const [name, value] of Object.entries(headers({ "Content-Type": "application/octet-stream" }))) {
      xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    xhr.onerror = () => reject(new ApiProblem(0, "unreachable", "the upload failed: the server cannot be reached"));
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else {
        const error = body && body.error ? body.error : {};
        reject(new ApiProblem(xhr.status, error.code || "error", error.message || `${xhr.status} error`, error.details));
      }
    };
    xhr.send(file);
  });
}

/** Poll a job until it finishes; onStatus(status) after each poll. */
export async function waitJob(path, onStatus, intervalMs = 400) {
  for (;;) {
    const status = await request("GET", path);
    onStatus(status);
    if (["succeeded", "failed", "cancelled"].includes(status.state)) return status;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
