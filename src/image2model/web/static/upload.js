// Choosing images (checked here for a quick answer; the server decides) and the job options.

import { ApiError, endpoints, upload } from "./api.js";
import { $, formatBytes, fromTemplate, show, showError } from "./dom.js";

const TYPES = { "image/jpeg": [".jpg", ".jpeg"], "image/png": [".png"], "image/webp": [".webp"] };

function isSupported(file) {
  if (file.type) return file.type in TYPES;
  const name = file.name.toLowerCase();
  return Object.values(TYPES).some((endings) => endings.some((end) => name.endsWith(end)));
}

export class UploadForm {
  constructor({ maxFiles, maxBytes, onSubmitted }) {
    this.maxFiles = maxFiles;
    this.maxBytes = maxBytes;
    this.onSubmitted = onSubmitted;
    this.files = []; // {file, url}
    this.catalogue = null;
    this.busy = false;
    this.bind();
  }

  bind() {
    const input = $("#file-input");
    input.addEventListener("change", () => {
      this.add(input.files);
      input.value = "";
    });
    const zone = $("#dropzone");
    for (const name of ["dragenter", "dragover"]) {
      zone.addEventListener(name, (event) => {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    }
    for (const name of ["dragleave", "drop"]) {
      zone.addEventListener(name, () => zone.classList.remove("dragging"));
    }
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      this.add(event.dataTransfer.files);
    });
    $("#clear-files").addEventListener("click", () => this.removeAll());
    $("#provider").addEventListener("change", () => this.fillModels());
    $("#model").addEventListener("change", () => this.fillOptions());
    $("#face-auto").addEventListener("change", (event) => {
      $("#face-limit").disabled = event.target.checked;
      if (!event.target.checked) $("#face-limit").focus();
    });
    $("#upload-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  // Options come from GET /models/available; a failure (a missing key, say) is shown, not fatal.
  async loadOptions() {
    try {
      this.catalogue = await endpoints.available();
    } catch (error) {
      showError($("#upload-error"), `Cannot load the models: ${error.message}`);
      return;
    }
    showError($("#upload-error"), "");
    const providers = this.catalogue.providers.map((p) => new Option(p.name, p.name));
    $("#provider").replaceChildren(...providers);
    $("#provider").value = this.catalogue.default_provider;
    this.fillModels();
    this.refresh();
  }

  provider() {
    return this.catalogue.providers.find((p) => p.name === $("#provider").value);
  }

  model() {
    return this.provider().models.find((m) => m.id === $("#model").value);
  }

  fillModels() {
    const provider = this.provider();
    $("#model").replaceChildren(...provider.models.map((m) => new Option(m.name, m.id)));
    $("#model").value = provider.default_model;
    this.fillOptions();
  }

  fillOptions() {
    const model = this.model();
    $("#model-hint").textContent = model.description || "";
    const option = (name) => model.options.find((o) => o.name === name);
    const face = option("face_limit");
    show($("#face-field"), Boolean(face));
    if (face) {
      const input = $("#face-limit");
      input.min = face.minimum ?? "";
      input.max = face.maximum ?? "";
      input.value = face.default ?? "";
      input.placeholder = face.default ? String(face.default) : "";
      $("#face-hint").textContent = [
        "Auto lets the model decide.",
        face.minimum != null ? `${face.minimum}–${face.maximum} faces.` : "",
      ].join(" ");
    }
    this.fillTexture(option("texture"));
  }

  fillTexture(spec) {
    const field = $("#texture-field");
    show(field, Boolean(spec));
    if (!spec) return field.replaceChildren();
    if (spec.kind === "bool") {
      const label = document.createElement("label");
      label.className = "check switch";
      const box = Object.assign(document.createElement("input"), { type: "checkbox", id: "texture" });
      box.checked = spec.default !== false;
      label.append(box, " Texture");
      const legend = Object.assign(document.createElement("span"), { className: "label", textContent: "Texture" });
      return field.replaceChildren(legend, label);
    }
    const label = Object.assign(document.createElement("label"), { htmlFor: "texture", textContent: "Texture" });
    const select = Object.assign(document.createElement("select"), { id: "texture" });
    select.append(...(spec.choices || []).map((c) => new Option(c, c)));
    select.value = spec.default ?? select.value;
    return field.replaceChildren(label, select);
  }

  add(fileList) {
    const rejected = [];
    for (const file of fileList) {
      const duplicate = this.files.some(
        (f) => f.file.name === file.name && f.file.size === file.size && f.file.lastModified === file.lastModified,
      );
      if (duplicate) continue;
      if (!isSupported(file)) rejected.push(`${file.name}: not a JPEG, PNG or WebP image`);
      else if (file.size > this.maxBytes) rejected.push(`${file.name}: larger than ${formatBytes(this.maxBytes)}`);
      else if (file.size === 0) rejected.push(`${file.name}: the file is empty`);
      else if (this.files.length >= this.maxFiles) rejected.push(`${file.name}: at most ${this.maxFiles} images per upload`);
      else this.files.push({ file, url: URL.createObjectURL(file) });
    }
    this.showRejected(rejected);
    this.refresh();
  }

  showRejected(reasons) {
    $("#rejected").replaceChildren(
      ...reasons.map((reason) => Object.assign(document.createElement("li"), { textContent: reason })),
    );
  }

  remove(entry, reason) {
    this.files = this.files.filter((f) => f !== entry);
    URL.revokeObjectURL(entry.url);
    if (reason) this.showRejected([reason]);
    this.refresh();
  }

  removeAll() {
    for (const entry of this.files) URL.revokeObjectURL(entry.url);
    this.files = [];
    this.showRejected([]);
    this.refresh();
    $("#file-input").focus();
  }

  refresh() {
    const thumbs = this.files.map((entry) => this.thumb(entry));
    $("#thumbs").replaceChildren(...thumbs);
    show($("#selection-head"), this.files.length > 0);
    $("#selection-count").textContent = `${this.files.length} of at most ${this.maxFiles}`;
    $("#start").disabled = this.busy || this.files.length === 0 || !this.catalogue;
  }

  thumb(entry) {
    const item = fromTemplate("thumb-template");
    const image = item.querySelector("img");
    image.src = entry.url;
    // a file that does not decode here will not decode on the server either
    image.addEventListener("error", () => this.remove(entry, `${entry.file.name}: not a readable image`));
    item.querySelector(".thumb-name").textContent = entry.file.name;
    item.querySelector(".thumb-size").textContent = formatBytes(entry.file.size);
    const button = item.querySelector(".thumb-remove");
    button.querySelector(".visually-hidden").textContent = `Remove ${entry.file.name}`;
    button.addEventListener("click", () => this.remove(entry));
    return item;
  }

  fields() {
    const form = new FormData();
    for (const { file } of this.files) form.append("files", file, file.name);
    form.append("provider", this.provider().name);
    form.append("model", this.model().id);
    const face = $("#face-limit");
    if (!$("#face-field").hidden && !$("#face-auto").checked) {
      if (!face.checkValidity() || face.value === "") {
        throw new ApiError(0, "INVALID_FACE_LIMIT", `Face limit must be a whole number from ${face.min} to ${face.max}`);
      }
      form.append("face_limit", face.value);
    }
    const texture = $("#texture");
    if (texture && !$("#texture-field").hidden) {
      form.append("texture", texture.type === "checkbox" ? String(texture.checked) : texture.value);
    }
    return form;
  }

  async submit() {
    if (this.busy || this.files.length === 0) return;
    showError($("#upload-error"), "");
    this.busy = true;
    this.refresh();
    const status = $("#upload-status");
    try {
      const form = this.fields();
      status.textContent = "Uploading…";
      const job = await upload(form, (share) => {
        status.textContent = share < 1 ? `Uploading… ${Math.round(share * 100)}%` : "Checking images…";
      });
      const previews = new Map(job.uploaded_files.map((f, i) => [f.file_id, this.files[i]?.url]));
      this.files = [];
      this.onSubmitted(job, previews);
    } catch (error) {
      showError($("#upload-error"), error.message);
    } finally {
      status.textContent = "";
      this.busy = false;
      this.refresh();
    }
  }
}
