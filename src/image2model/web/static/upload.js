// Choosing images (checked here for a quick answer; the server decides) and the job options.
// For a model that takes several views of an object, images dropped onto one another (or
// put together with their "Object" menu) become one object, each image labelled with its side.

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
    this.files = []; // {file, url, group, side}: images of one group are views of one object
    this.catalogue = null;
    this.busy = false;
    this.groups = 0;
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
    $("#model").addEventListener("change", () => {
      this.fillOptions();
      this.refresh();
    });
    $("#face-auto").addEventListener("change", (event) => {
      $("#face-limit").disabled = event.target.checked;
      if (!event.target.checked) $("#face-limit").focus();
    });
    $("#upload-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  // Options come from GET /models/providers; a failure (a missing key, say) is shown, not fatal.
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
    $("#model").replaceChildren(...provider.models.map((m) => new Option(modelLabel(m), m.id)));
    $("#model").value = provider.default_model;
    this.fillOptions();
  }

  fillOptions() {
    const model = this.model();
    const grouping = model.views && model.views.length
      ? "Drop images onto one another to make them views of one object."
      : "";
    $("#model-hint").textContent = [model.description, grouping].filter(Boolean).join(". ");
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
    this.fillShape(option("shape"));
  }

  // The offline generator's kind of shape: a choice, its description as the hint.
  fillShape(spec) {
    show($("#shape-field"), Boolean(spec));
    if (!spec) return;
    const select = $("#shape");
    select.replaceChildren(...spec.choices.map((c) => new Option(c, c)));
    select.value = spec.default;
    $("#shape-hint").textContent = spec.description;
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
      else this.files.push({ file, url: URL.createObjectURL(file), group: null, side: "front" });
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
    this.tidyGroups();
    if (reason) this.showRejected([reason]);
    this.refresh();
  }

  // The sides the chosen model takes: front and its other views; none for one image per object.
  sides() {
    const model = this.catalogue && this.model();
    return model && model.views && model.views.length ? ["front", ...model.views] : [];
  }

  members(group) {
    return this.files.filter((f) => f.group === group);
  }

  // `entry` becomes a view of `target`'s object, on the first side nobody there has yet.
  join(entry, target) {
    if (entry === target) return;
    if (target.group === null) Object.assign(target, { group: ++this.groups, side: "front" });
    const taken = new Set(this.members(target.group).map((f) => f.side));
    const free = this.sides().find((side) => !taken.has(side)) || "back";
    Object.assign(entry, { group: target.group, side: free });
    this.tidyGroups();
    this.refresh();
  }

  separate(entry) {
    Object.assign(entry, { group: null, side: "front" });
    this.tidyGroups();
    this.refresh();
  }

  // A group of one is an image of its own again.
  tidyGroups() {
    for (const entry of this.files) {
      if (entry.group !== null && this.members(entry.group).length < 2) {
        Object.assign(entry, { group: null, side: "front" });
      }
    }
  }

  removeAll() {
    for (const entry of this.files) URL.revokeObjectURL(entry.url);
    this.files = [];
    this.showRejected([]);
    this.refresh();
    $("#file-input").focus();
  }

  refresh() {
    const items = [];
    const shown = new Set();
    for (const entry of this.files) {
      if (entry.group === null) items.push(this.thumb(entry));
      else if (!shown.has(entry.group)) {
        shown.add(entry.group);
        items.push(this.object(entry.group));
      }
    }
    $("#thumbs").replaceChildren(...items);
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
    if (this.sides().length) this.viewControls(item, entry);
    return item;
  }

  // One card for the views of one object.
  object(group) {
    const members = this.members(group);
    const front = members.find((f) => f.side === "front") || members[0];
    const card = document.createElement("li");
    card.className = "object";
    card.dataset.object = String(group);
    card.dataset.views = String(Math.min(members.length, 4));
    const title = Object.assign(document.createElement("span"), {
      className: "object-title",
      textContent: `${objectName(front.file.name)} · ${members.length} views`,
    });
    const list = document.createElement("ul");
    list.className = "object-views";
    list.setAttribute("aria-label", `Views of ${objectName(front.file.name)}`);
    list.append(...members.map((entry) => this.thumb(entry)));
    card.append(title, list);
    return card;
  }

  // Drag onto another image (or choose it in "Object") to make both views of one object.
  viewControls(item, entry) {
    const index = this.files.indexOf(entry);
    item.draggable = true;
    item.dataset.index = String(index);
    item.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData("text/x-image-index", String(index));
      event.dataTransfer.effectAllowed = "move";
    });
    item.addEventListener("dragover", (event) => {
      if (event.dataTransfer.types.includes("text/x-image-index")) event.preventDefault();
    });
    item.addEventListener("drop", (event) => {
      event.preventDefault();
      event.stopPropagation();
      const source = this.files[Number(event.dataTransfer.getData("text/x-image-index"))];
      if (source) this.join(source, entry);
    });
    const controls = document.createElement("div");
    controls.className = "thumb-views";
    if (entry.group === null) {
      const others = this.files.filter((f) => f !== entry);
      const owner = labelled(`Object of ${entry.file.name}`, "Object", [
        new Option("Its own", ""),
        ...others.map((f) => new Option(`With ${f.file.name}`, String(this.files.indexOf(f)))),
      ]);
      owner.select.value = "";
      owner.select.addEventListener("change", () => {
        const target = this.files[Number(owner.select.value)];
        if (target) this.join(entry, target);
      });
      controls.append(owner.label);
    } else {
      const side = labelled(`Side of ${entry.file.name}`, "Side", this.sides().map((s) => new Option(s, s)));
      side.select.value = entry.side;
      side.select.addEventListener("change", () => {
        entry.side = side.select.value;
      });
      const apart = Object.assign(document.createElement("button"), {
        type: "button",
        className: "quiet",
        textContent: "Separate",
      });
      apart.setAttribute("aria-label", `Separate ${entry.file.name}`);
      apart.addEventListener("click", () => this.separate(entry));
      controls.append(side.label, apart);
    }
    item.querySelector(".thumb-text").append(controls);
  }

  // {"chair": {"front": "chair-1.jpg", …}} for each object of several views.
  objects() {
    const objects = {};
    const groups = [...new Set(this.files.filter((f) => f.group !== null).map((f) => f.group))];
    for (const group of groups) {
      const members = this.members(group);
      const sides = {};
      for (const entry of members) {
        if (sides[entry.side]) {
          throw new ApiError(0, "INVALID_VIEWS", `Two images of one object are both its ${entry.side}`);
        }
        sides[entry.side] = entry.file.name;
      }
      if (!sides.front) throw new ApiError(0, "INVALID_VIEWS", "Each object needs a front view");
      let name = objectName(sides.front);
      for (let n = 2; name in objects; n++) name = `${objectName(sides.front)}-${n}`;
      objects[name] = sides;
    }
    return objects;
  }

  // The image each new item is made from, in the order the server lists them.
  fronts() {
    return this.files.filter((f) => f.group === null || f.side === "front");
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
    if (!$("#shape-field").hidden) form.append("shape", $("#shape").value);
    const objects = this.objects();
    if (Object.keys(objects).length) form.append("objects", JSON.stringify(objects));
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
      const fronts = this.fronts();
      const previews = new Map(job.uploaded_files.map((f, i) => [f.file_id, fronts[i]?.url]));
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

function objectName(filename) {
  return filename.replace(/\.[^.]+$/, "") || filename;
}

function labelled(accessibleName, text, options) {
  const label = Object.assign(document.createElement("label"), { className: "thumb-choice" });
  const select = document.createElement("select");
  select.setAttribute("aria-label", accessibleName);
  select.append(...options);
  label.append(Object.assign(document.createElement("span"), { textContent: text }), select);
  return { label, select };
}

// A model's name, with its price per request where the server knows it (fal's, as read).
function modelLabel(model) {
  const price = model.price;
  if (!price || price.amount == null) return model.name;
  const per = price.unit.replace(/s$/, "");
  return `${model.name} · ${price.amount.toFixed(2)} ${price.currency} per ${per}`;
}
