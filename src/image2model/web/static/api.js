// The HTTP API as documented (/api/v1): Bearer key from local storage, one error shape.

const KEY_STORAGE = "image2model.apiKey";
export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

export const apiKey = {
  get: () => localStorage.getItem(KEY_STORAGE) || "",
  set: (key) => localStorage.setItem(KEY_STORAGE, key.trim()),
  clear: () => localStorage.removeItem(KEY_STORAGE),
};

// Called on a 401; resolves true once the user gave a key worth retrying with.
let askForKey = async () => false;

export function onKeyNeeded(handler) {
  askForKey = handler;
}

function authHeaders() {
  const key = apiKey.get();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function errorFrom(status, bodyText) {
  try {
    const body = JSON.parse(bodyText);
    if (body && body.message) return new ApiError(status, body.error_code, body.message, body.details);
  } catch {
    // not the error envelope (a proxy's page, say): fall through to a generic message
  }
  return new ApiError(status, "HTTP_" + status, `The server answered ${status}`);
}

// JSON (or a Blob, with `as: "blob"`) from `path`, asking for a key (and retrying once) when the server wants one.
export async function request(path, options = {}, retried = false) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  } catch {
    throw new ApiError(0, "NETWORK", "Cannot reach the server. Check your connection and try again.");
  }
  if (response.status === 401 && !retried && (await askForKey())) {
    return request(path, options, true);
  }
  if (!response.ok) throw await errorFrom(response.status, await response.text());
  if (options.as === "blob") return response.blob();
  const text = await response.text();
  return text ? JSON.parse(text) : {};
}

// POST /upload/ with upload progress (fetch cannot report it), same key handling.
export function upload(form, onProgress, retried = false) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${API}/upload/`);
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("error", () =>
      reject(new ApiError(0, "NETWORK", "The upload was interrupted. Check your connection and try again.")),
    );
    xhr.addEventListener("load", async () => {
      if (xhr.status === 401 && !retried && (await askForKey())) {
        upload(form, onProgress, true).then(resolve, reject);
      } else if (xhr.status >= 200 && xhr.status < 300) {
        resolve(JSON.parse(xhr.responseText));
      } else {
        reject(await errorFrom(xhr.status, xhr.responseText));
      }
    });
    xhr.send(form);
  });
}

export const endpoints = {
  available: () => request(`${API}/models/providers`),
  status: (jobId) => request(`${API}/status/tasks/${encodeURIComponent(jobId)}/status`),
  listing: (jobId) => request(`${API}/download/${encodeURIComponent(jobId)}/all`),
  cancel: (jobId) => request(`${API}/models/job/${encodeURIComponent(jobId)}/cancel`, { method: "POST" }),
};
