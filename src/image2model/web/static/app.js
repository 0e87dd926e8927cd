// The page: upload view at `/`, a job at `/?job=<id>` (so a reload resumes it), recent jobs.

import { apiKey, onKeyNeeded } from "./api.js";
import { $, formatBytes, show } from "./dom.js";
import * as recent from "./history.js";
import { JobView } from "./job.js";
import { UploadForm } from "./upload.js";

const VIEWER_SCRIPT = "/ui/vendor/model-viewer.min.js";

function limit(name, fallback) {
  const value = Number(document.querySelector(`meta[name="image2model-${name}"]`)?.content);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

function notice(text) {
  const element = $("#notice");
  element.textContent = text;
  show(element, Boolean(text));
}

// Loaded apart from the page so a server without it still works, with still previews.
const viewer = import(VIEWER_SCRIPT).then(
  () => true,
  () => {
    notice(
      "The 3D viewer is not installed on this server (run `npm ci --prefix web` or set WEB_VENDOR_DIR). " +
        "Models are still generated and downloadable; previews are shown as images.",
    );
    return false;
  },
);

let keyPrompt = null;

// Asks once for the key (concurrent 401s share the question); true when one was saved.
function askForKey({ required = true } = {}) {
  if (keyPrompt) return keyPrompt;
  const dialog = $("#key-dialog");
  $("#key-input").value = "";
  $("#key-dialog p").hidden = !required;
  keyPrompt = new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        keyPrompt = null;
        const key = $("#key-input").value.trim();
        const saved = dialog.returnValue === "save" && key !== "";
        if (saved) apiKey.set(key);
        showKeyButton(saved || Boolean(apiKey.get()));
        resolve(saved);
      },
      { once: true },
    );
    dialog.returnValue = "";
    dialog.showModal();
  });
  return keyPrompt;
}

function showKeyButton(visible) {
  const button = $("#key-button");
  button.hidden = !visible;
  button.textContent = apiKey.get() ? "API key ✓" : "API key";
}

function bindKeys() {
  onKeyNeeded(() => askForKey());
  $("#key-button").addEventListener("click", () => askForKey({ required: false }));
  $("#key-forget").addEventListener("click", () => {
    apiKey.clear();
    $("#key-dialog").close("forget");
  });
  showKeyButton(Boolean(apiKey.get()));
}

const jobView = new JobView({ viewer });
const uploadForm = new UploadForm({
  maxFiles: limit("max-files", 25),
  maxBytes: limit("max-upload-size", 10 * 1024 * 1024),
  onSubmitted(job, previews) {
    recent.remember({
      id: job.job_id,
      stream: job.stream_url,
      created: Date.now() / 1000,
      files: job.total_files,
      names: job.uploaded_files.map((f) => f.filename),
      status: job.status,
      cost: job.estimated_cost ?? null,
    });
    history.pushState(null, "", `/?job=${encodeURIComponent(job.job_id)}`);
    route(previews);
    $("#job-title").focus();
  },
});

function route(previews) {
  const jobId = new URLSearchParams(location.search).get("job");
  show($("#upload-view"), !jobId);
  show($("#job-view"), Boolean(jobId));
  if (jobId) {
    jobView.open(jobId, previews);
  } else {
    jobView.close();
    if (!uploadForm.catalogue) uploadForm.loadOptions();
  }
  recent.render(jobId);
}

function start() {
  for (const element of document.querySelectorAll("[data-limit=files]")) {
    element.textContent = String(uploadForm.maxFiles);
  }
  for (const element of document.querySelectorAll("[data-limit=size]")) {
    element.textContent = formatBytes(uploadForm.maxBytes);
  }
  $("#job-title").tabIndex = -1;
  bindKeys();
  $("#clear-history").addEventListener("click", () => {
    recent.clear();
    recent.render(null);
  });
  addEventListener("popstate", () => route());
  route();
}

start();
