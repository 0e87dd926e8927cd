// This browser's recent jobs: id, signed stream URL, names and last known status.

import { $, formatTime, setStatus, show } from "./dom.js";

const STORAGE = "image2model.jobs";
const KEEP = 20;

export function jobs() {
  try {
    const stored = JSON.parse(localStorage.getItem(STORAGE) || "[]");
    return Array.isArray(stored) ? stored : [];
  } catch {
    return [];
  }
}

function save(list) {
  localStorage.setItem(STORAGE, JSON.stringify(list.slice(0, KEEP)));
}

export function find(jobId) {
  return jobs().find((job) => job.id === jobId);
}

export function remember(job) {
  save([job, ...jobs().filter((j) => j.id !== job.id)]);
}

export function update(jobId, changes) {
  save(jobs().map((job) => (job.id === jobId ? { ...job, ...changes } : job)));
}

export function clear() {
  localStorage.removeItem(STORAGE);
}

export function render(currentId) {
  const list = jobs();
  const section = $("#history");
  show(section, list.length > 0);
  const items = list.map((job) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `/?job=${encodeURIComponent(job.id)}`;
    if (job.id === currentId) link.setAttribute("aria-current", "page");
    const names = job.names.slice(0, 3).join(", ") + (job.files > 3 ? ` +${job.files - 3}` : "");
    const title = document.createElement("span");
    title.className = "history-names";
    title.textContent = names || job.id;
    const meta = document.createElement("span");
    meta.className = "muted";
    meta.textContent = `${job.files} image${job.files === 1 ? "" : "s"} · ${formatTime(job.created)}`;
    const badge = document.createElement("span");
    badge.className = "badge";
    setStatus(badge, job.status || "queued");
    link.append(title, meta, badge);
    item.append(link);
    return item;
  });
  $("#history-list").replaceChildren(...items);
}
