// One image's card: status and progress while it works, then its model, stats and downloads.

import { formatCount, fromTemplate, setStatus, showError } from "./dom.js";

const FORMATS = ["glb", "obj", "stl", "ply", "3mf", "usdz", "fbx"];
// The offline generator's kinds of shape, as the card names them.
const SHAPES = {
  inflate: "inflated from the outline",
  slab: "a plate with the photo on its face",
  revolve: "turned about a vertical axis",
};

export class Card {
  constructor(file, previewUrl) {
    this.element = fromTemplate("card-template");
    this.element.dataset.fileId = file.file_id;
    this.name = file.filename;
    this.status = null;
    this.errorShown = false;
    this.resultShown = false;
    this.part(".name").textContent = file.filename;
    this.part(".bar").setAttribute("aria-label", `Progress of ${file.filename}`);
    if (previewUrl) this.setPoster(previewUrl);
  }

  part(selector) {
    return this.element.querySelector(selector);
  }

  setPoster(url) {
    const poster = this.part(".poster");
    poster.src = url;
    poster.alt = `Uploaded image ${this.name}`;
    poster.hidden = false;
    this.part(".placeholder").hidden = true;
  }

  update(file) {
    this.status = file.status;
    this.element.dataset.status = file.status;
    setStatus(this.part(".status"), file.status);
    const bar = this.part(".bar");
    bar.value = file.status === "completed" ? 100 : (file.progress ?? bar.value);
    if (file.message !== undefined) this.part(".message").textContent = file.message;
    if (file.error) {
      showError(this.part(".error"), file.error.message || file.error.code);
      this.errorShown = true;
    }
  }

  // `file` is one entry of the job's listing; `viewer` says whether <model-viewer> is available.
  showResult(file, viewer) {
    if (!this.resultShown) {
      this.resultShown = true;
      this.part(".stage").replaceChildren(viewer ? this.modelViewer(file) : this.preview(file));
    }
    this.showStats(file.stats);
    this.showPrint(file.stats?.printability, file.format_warnings || {});
    this.showDownloads(file.formats, file.format_warnings || {});
    this.showOutputs(file.outputs || []);
  }

  modelViewer(file) {
    const model = document.createElement("model-viewer");
    const attributes = {
      src: file.formats.glb,
      alt: `3D model made from ${this.name}`,
      "camera-controls": "",
      "auto-rotate": "",
      "touch-action": "pan-y",
      "shadow-intensity": "0.8",
      "interaction-prompt": "none",
      loading: "eager",
    };
    const poster = file.rendered_turntable ?? file.rendered_image; // the model turning, if listed
    if (poster) attributes.poster = poster.url;
    for (const [name, value] of Object.entries(attributes)) model.setAttribute(name, value);
    model.addEventListener("load", () => (this.element.dataset.model = "loaded"));
    model.addEventListener("error", () => {
      this.element.dataset.model = "error";
      this.part(".stage").replaceChildren(this.preview(file));
      showError(this.part(".error"), "The 3D view could not load; the downloads still work.");
    });
    return model;
  }

  preview(file) {
    const image = document.createElement("img");
    image.className = "poster";
    image.alt = `Preview of the model made from ${this.name}`;
    const still = file.rendered_image?.url;
    image.src = file.rendered_turntable?.url ?? still ?? "";
    if (still) image.addEventListener("error", () => (image.src = still), { once: true });
    return image;
  }

  showStats(stats) {
    const list = this.part(".stats");
    if (!stats) return;
    this.part(".faces").textContent = formatCount(stats.faces);
    this.part(".vertices").textContent = formatCount(stats.vertices);
    this.part(".watertight").textContent = stats.watertight ? "Yes" : "No";
    list.hidden = false;
    if (stats.shape) {
      const shape = this.part(".shape");
      shape.textContent = `Shape: ${SHAPES[stats.shape] ?? stats.shape}`;
      shape.hidden = false;
    }
  }

  // Size at the model's own scale (1 unit = 1 m), bodies, volume; and what a slicer will say.
  showPrint(report, warnings) {
    if (!report) return;
    const line = this.part(".print");
    const size = report.size_mm.map((side) => formatCount(Math.round(side))).join(" × ");
    const bodies = report.bodies === 1 ? "1 body" : `${formatCount(report.bodies)} bodies`;
    const volume = report.volume_mm3 == null ? "open, no volume" : `${formatCount(Math.round(report.volume_mm3 / 1000))} cm³`;
    line.textContent = `Prints ${size} mm · ${bodies} · ${volume}`;
    const warning = warnings.stl || warnings["3mf"];
    if (warning) {
      const note = Object.assign(document.createElement("span"), { className: "warning", textContent: warning });
      line.append(" · ", note);
    }
    line.hidden = false;
  }

  showDownloads(formats, warnings = {}) {
    const group = this.part(".downloads");
    group.setAttribute("aria-label", `Download the model of ${this.name}`);
    const links = FORMATS.filter((format) => formats[format]).map((format) => {
      const link = document.createElement("a");
      link.className = "button small";
      link.href = formats[format];
      link.download = "";
      link.textContent = format.toUpperCase();
      link.dataset.format = format;
      link.setAttribute("aria-label", `Download ${this.name} as ${format.toUpperCase()}`);
      if (warnings[format]) {
        link.title = warnings[format];
        link.classList.add("warned");
        link.textContent += " ⚠";
      }
      return link;
    });
    group.replaceChildren(...links);
    group.hidden = false;
  }

  // Other files the model's service returned, as it sent them (an FBX, texture maps, …).
  showOutputs(outputs) {
    if (!outputs.length || this.element.querySelector(".outputs")) return;
    const line = document.createElement("p");
    line.className = "outputs muted";
    const links = outputs.map((output) => {
      const link = Object.assign(document.createElement("a"), { href: output.url, textContent: output.name });
      link.download = "";
      link.setAttribute("aria-label", `Download ${output.name} of ${this.name}`);
      return link;
    });
    line.append("Also from the model: ", ...links.flatMap((link, i) => (i ? [" · ", link] : [link])));
    this.part(".downloads").after(line);
  }
}
