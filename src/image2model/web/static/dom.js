// Small DOM and formatting helpers shared by the page's modules.

export const $ = (selector, root = document) => root.querySelector(selector);

export function fromTemplate(id) {
  return document.getElementById(id).content.firstElementChild.cloneNode(true);
}

export function show(element, visible = true) {
  element.hidden = !visible;
}

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

export function formatCount(value) {
  return new Intl.NumberFormat().format(value);
}

export function formatTime(seconds) {
  return new Date(seconds * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

const STATUS_LABELS = {
  queued: "Queued",
  processing: "Processing",
  completed: "Completed",
  partial: "Partly completed",
  failed: "Failed",
  cancelled: "Cancelled",
};

export function setStatus(badge, status) {
  badge.textContent = STATUS_LABELS[status] || status;
  badge.dataset.status = status;
}

export function showError(element, message) {
  element.textContent = message || "";
  element.hidden = !message;
}
