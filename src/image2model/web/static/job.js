// One job: a card per image, live from its SSE stream; models, stats and downloads when done.

import { API, endpoints, request } from "./api.js";
import { $, formatTime, setStatus, show, showError } from "./dom.js";
import { Card } from "./card.js";
import * as history from "./history.js";

const TERMINAL = ["task_completed", "task_failed", "task_cancelled"];
const FINISHED = new Set(["completed", "partial", "failed", "cancelled"]);
const POLL_MS = 2000;

export class JobView {
  constructor({ viewer }) {
    this.viewer = viewer; // Promise<boolean>: whether the 3D viewer loaded
    this.cards = new Map();
    $("#cancel-job").addEventListener("click", () => this.cancel());
    $("#zip-format").addEventListener("change", () => this.updateZipLink());
    $("#zip-link").addEventListener("click", (event) => this.downloadZip(event));
  }

  async open(jobId, previews = new Map()) {
    this.close();
    Object.assign(this, { jobId, previews, done: false, retries: 0, zipUrl: "", status: null });
    this.cards = new Map();
    $("#cards").replaceChildren();
    showError($("#job-error"), "");
    show($("#results-bar"), false);
    this.entry = history.find(jobId);
    $("#job-meta").textContent = this.entry
      ? [
          `${this.entry.files} image${this.entry.files === 1 ? "" : "s"}`,
          `started ${formatTime(this.entry.created)}`,
          costLine(this.entry.cost),
        ].filter(Boolean).join(" · ")
      : `Job ${jobId}`;
    if (!(await this.refreshStatus())) return;
    if (this.done) return this.finished(this.status, null);
    if (this.entry?.stream) this.connect(this.entry.stream);
    else this.poll();
  }

  close() {
    this.done = true;
    this.source?.close();
    this.source = null;
    clearTimeout(this.timer);
  }

  // The full snapshot (with messages and errors) from the status route; false when the job is gone.
  async refreshStatus() {
    try {
      this.applyProgress(await endpoints.status(this.jobId));
      return true;
    } catch (error) {
      if (error.status === 404) {
        this.close();
        setStatus($("#job-status"), "failed");
        showError($("#job-error"), "This job was not found: it may have expired, or it belongs to another API key.");
        history.update(this.jobId, { status: "expired" });
      } else {
        this.setConnection(`Cannot load the job: ${error.message}`);
      }
      return false;
    }
  }

  connect(url) {
    this.source?.close();
    const source = new EventSource(url);
    this.source = source;
    const on = (name, handler) =>
      source.addEventListener(name, (event) => {
        if (source === this.source) handler(JSON.parse(event.data));
      });
    source.addEventListener("open", () => {
      this.retries = 0;
      this.setConnection("Live");
    });
    on("task_progress", (data) => this.applyProgress(data));
    on("file_update", (data) => this.applyFile(data));
    for (const name of TERMINAL) on(name, (data) => this.finished(data.status, data));
    // the server is stopping: the browser reconnects by itself, with Last-Event-ID
    on("server_shutdown", () => this.setConnection("Server restarting, reconnecting…"));
    source.addEventListener("error", () => this.streamError(source, url));
  }

  streamError(source, url) {
    if (this.done || source !== this.source) return;
    this.setConnection("Connection lost, reconnecting…");
    if (source.readyState !== EventSource.CLOSED) return; // the browser is retrying already
    const delay = Math.min(30000, 1000 * 2 ** this.retries++);
    this.timer = setTimeout(async () => {
      if (this.done || !(await this.refreshStatus())) return;
      if (this.done) this.finished(this.status, null);
      else this.connect(url);
    }, delay);
  }

  // Without a stream link (a job from another browser): poll the status route with the key.
  poll() {
    this.setConnection("Updating every few seconds");
    this.timer = setTimeout(async () => {
      if (this.done || !(await this.refreshStatus())) return;
      if (this.done) this.finished(this.status, null);
      else this.poll();
    }, POLL_MS);
  }

  setConnection(text) {
    $("#connection").textContent = text;
  }

  applyProgress(data) {
    if (data.status !== this.status) {
      history.update(this.jobId, { status: data.status });
      history.render(this.jobId);
    }
    this.status = data.status;
    this.done = this.done || FINISHED.has(data.status);
    setStatus($("#job-status"), data.status);
    $("#job-message").textContent = data.message || "";
    $("#job-progress").value = data.progress ?? 0;
    show($("#cancel-job"), !FINISHED.has(data.status));
    for (const file of data.files || []) this.applyFile(file);
  }

  applyFile(file) {
    let card = this.cards.get(file.file_id);
    if (!card) {
      card = new Card(file, this.previews.get(file.file_id));
      this.cards.set(file.file_id, card);
      $("#cards").append(card.element);
    }
    const wasCompleted = card.status === "completed";
    card.update(file);
    if (file.status === "completed" && !wasCompleted && !this.done) this.scheduleResults();
  }

  async finished(status, event) {
    this.close();
    this.status = status;
    setStatus($("#job-status"), status);
    show($("#cancel-job"), false);
    $("#job-progress").value = 100;
    this.setConnection("");
    history.update(this.jobId, { status });
    history.render(this.jobId);
    if (event?.result?.download_url) this.zipUrl = event.result.download_url;
    if (event?.error) showError($("#job-error"), `${event.error}. Each image's reason is on its card.`);
    if ([...this.cards.values()].some((card) => card.status === "failed" && !card.errorShown)) {
      await this.refreshStatus();
    }
    await this.loadResults();
  }

  scheduleResults() {
    clearTimeout(this.resultsTimer);
    this.resultsTimer = setTimeout(() => this.loadResults(), 300);
  }

  // The listing gives each finished model's signed links, preview and stats.
  async loadResults() {
    let listing;
    try {
      listing = await endpoints.listing(this.jobId);
    } catch (error) {
      return showError($("#job-error"), `Cannot list the models: ${error.message}`);
    }
    const viewer = await this.viewer;
    for (const file of listing.files) this.cards.get(file.file_id)?.showResult(file, viewer);
    const any = listing.files.length > 0;
    show($("#results-bar"), any && FINISHED.has(this.status));
    this.updateZipLink();
  }

  updateZipLink() {
    const format = $("#zip-format").value;
    const link = $("#zip-link");
    link.href = this.zipUrl ? withFormat(this.zipUrl, format) : `${API}/models/download/${this.jobId}?format=${format}`;
    link.setAttribute("download", `${this.jobId}-${format}.zip`);
  }

  // A signed link downloads by itself; without one the key goes in a header, so fetch it.
  async downloadZip(event) {
    if (this.zipUrl) return;
    event.preventDefault();
    const format = $("#zip-format").value;
    try {
      const blob = await request(`${API}/models/download/${this.jobId}?format=${format}`, { as: "blob" });
      const url = URL.createObjectURL(blob);
      const link = Object.assign(document.createElement("a"), { href: url, download: `${this.jobId}-${format}.zip` });
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (error) {
      showError($("#job-error"), `Cannot download the ZIP: ${error.message}`);
    }
  }

  async cancel() {
    const button = $("#cancel-job");
    button.disabled = true;
    try {
      await endpoints.cancel(this.jobId);
    } catch (error) {
      showError($("#job-error"), `Cannot cancel: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }
}

function withFormat(url, format) {
  const parsed = new URL(url, location.origin);
  parsed.searchParams.set("format", format);
  return parsed.pathname + parsed.search;
}

// The estimate the upload answered with; nothing for a generator that costs nothing.
function costLine(cost) {
  if (!cost || cost.amount === 0) return "";
  if (cost.amount == null) return "cost not known";
  return `about ${cost.amount.toFixed(2)} ${cost.currency}`;
}
