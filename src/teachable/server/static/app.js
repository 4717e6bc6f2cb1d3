// Teachable's page: Gather -> Train -> Preview -> Export. It talks only to the local /api.
import { ClipCollector, RollingWindow, openMicrophone, wavBlob } from "./sound.js";
import { drawSkeleton, isKeypointKind, overlayFor } from "./skeleton.js";

const COLOURS = ["#e8710a", "#1a73e8", "#188038", "#a142f4", "#d01884", "#12b5cb", "#f9ab00", "#5f6368"];
const CAPTURE_SIZE = 224;
const RECORD_FPS = 5;
const PREVIEW_FPS = 15;
const app = document.getElementById("app");

// ---------------------------------------------------------------------------------------------
// small helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function toast(message, kind = "info") {
  const el = h("div", { class: `toast ${kind}`, text: message });
  document.getElementById("toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 7000 : 3500);
}

async function api(method, path, body, { raw = false } = {}) {
  const options = { method, headers: {} };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(`/api${path}`, options);
  } catch (err) {
    throw new Error("Teachable's server is not answering. Is `teachable serve` still running?");
  }
  if (!response.ok) {
    let message = `The server answered ${response.status}.`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

async function attempt(action, success) {
  try {
    const result = await action();
    if (success) toast(success);
    return result;
  } catch (err) {
    toast(err.message, "error");
    return undefined;
  }
}

function download(url, filename) {
  const link = h("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
}

// ---------------------------------------------------------------------------------------------
// the webcam: one stream shared by every card that shows it

const camera = {
  stream: null,
  deviceId: null,
  users: 0,
  async start(deviceId) {
    if (this.stream && (!deviceId || deviceId === this.deviceId)) { this.users++; return this.stream; }
    this.stopTracks();
    const video = deviceId ? { deviceId: { exact: deviceId } } : { width: 640, height: 480 };
    this.stream = await navigator.mediaDevices.getUserMedia({ video, audio: false });
    this.deviceId = this.stream.getVideoTracks()[0].getSettings().deviceId || deviceId;
    this.users++;
    return this.stream;
  },
  release() {
    this.users = Math.max(0, this.users - 1);
    if (this.users === 0) this.stopTracks();
  },
  stopTracks() {
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.stream = null;
  },
  async cameras() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    return devices.filter((d) => d.kind === "videoinput");
  },
};

// The centred square of a video frame, as a JPEG (what Teachable Machine captures).
function grabFrame(video, size = CAPTURE_SIZE, quality = 0.85) {
  const canvas = grabFrame.canvas || (grabFrame.canvas = document.createElement("canvas"));
  canvas.width = size;
  canvas.height = size;
  const side = Math.min(video.videoWidth, video.videoHeight);
  if (!side) return Promise.resolve(null);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side, side, 0, 0, size, size);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
}

async function webcamView(onStop, skeleton = false) {
  const video = h("video", { class: "cam mirrored", autoplay: true, muted: true, playsinline: true });
  const select = h("select", { "aria-label": "Camera" });
  const wrapper = h("div", { class: "webcam-panel" }, video);
  let stream;
  try {
    stream = await camera.start();
  } catch (err) {
    toast(`The webcam could not be opened: ${err.message}. Allow camera access in the browser and try again.`, "error");
    onStop();
    return null;
  }
  video.srcObject = stream;
  const cams = await camera.cameras();
  if (cams.length > 1) {
    cams.forEach((c, i) => select.append(h("option", { value: c.deviceId, text: c.label || `Camera ${i + 1}` })));
    select.value = camera.deviceId || "";
    select.addEventListener("change", async () => {
      camera.release();
      video.srcObject = await camera.start(select.value);
    });
    wrapper.append(h("label", { class: "small muted" }, "Camera ", select));
  }
  const overlay = skeleton ? overlayFor(video, "Skeleton found in the webcam view") : null;
  if (overlay) overlay.classList.add("mirrored");
  const mirror = h("input", { type: "checkbox", checked: true });
  mirror.addEventListener("change", () => {
    video.classList.toggle("mirrored", mirror.checked);
    if (overlay) overlay.classList.toggle("mirrored", mirror.checked);
  });
  wrapper.append(h("label", { class: "small muted" }, mirror, " Mirror the view"));
  return { video, wrapper, overlay, stop() { video.srcObject = null; camera.release(); } };
}

// A live socket to the project: sends square webcam frames, hands every reply to onReply.
// (mode "landmarks": only the skeleton, for the capture view of pose and hand projects.)
function liveStream(state, video, mode, onReply) {
  const protocol = location.protocol === "https:" ? "wss" : "ws";
  let socket = null;
  let closed = false;
  const connect = () => {
    socket = new WebSocket(`${protocol}://${location.host}/api/projects/${state.id}/live?mode=${mode}`);
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => onReply(JSON.parse(event.data));
    socket.onclose = () => { if (!closed) setTimeout(connect, 1000); };
  };
  connect();
  const timer = setInterval(async () => {
    if (!socket || socket.readyState !== WebSocket.OPEN || socket.bufferedAmount > 0) return;
    const blob = await grabFrame(video, CAPTURE_SIZE, 0.8);
    if (blob && socket.readyState === WebSocket.OPEN) socket.send(await blob.arrayBuffer());
  }, 1000 / PREVIEW_FPS);
  return () => { closed = true; clearInterval(timer); if (socket) socket.close(); };
}

// ---------------------------------------------------------------------------------------------
// routing

let leaveCurrent = () => {};
window.addEventListener("hashchange", route);

function route() {
  leaveCurrent();
  leaveCurrent = () => {};
  const match = location.hash.match(/^#\/p\/([a-z0-9-]+)/);
  app.replaceChildren();
  if (match) showProject(match[1]);
  else showProjects();
}

// ---------------------------------------------------------------------------------------------
// projects page

async function showProjects() {
  document.title = "Teachable: projects";
  const list = h("div", { class: "project-list" });
  const name = h("input", { type: "text", placeholder: "Name of a new project", "aria-label": "New project name", value: "" });
  const fileInput = h("input", { type: "file", accept: ".teachable-project", class: "visually-hidden", "aria-label": "Project file" });
  fileInput.addEventListener("change", async () => {
    if (!fileInput.files.length) return;
    const form = new FormData();
    form.append("file", fileInput.files[0]);
    const project = await attempt(() => api("POST", "/projects/open", form), "Project opened.");
    if (project) location.hash = `#/p/${project.id}`;
  });
  const create = async (kind) => {
    const project = await attempt(() => api("POST", "/projects", { name: name.value.trim() || "Untitled project", kind }));
    if (project) location.hash = `#/p/${project.id}`;
  };
  app.append(
    h("h1", { text: "Your projects" }),
    h("form", { class: "new-project card", onsubmit: (e) => { e.preventDefault(); create("image"); } },
      name,
      h("button", { class: "btn primary", type: "submit", id: "create-project" }, "New image project"),
      h("button", { class: "btn primary", type: "button", id: "create-sound-project", onclick: () => create("sound") }, "New sound project"),
      h("button", { class: "btn primary", type: "button", id: "create-pose-project", onclick: () => create("pose"),
        title: "Classify body poses from the webcam: only the skeleton counts, not the background" }, "New pose project"),
      h("button", { class: "btn primary", type: "button", id: "create-hand-project", onclick: () => create("hand"),
        title: "Classify hand gestures: 21 points of one hand, and whether it is the left or the right" }, "New hand gesture project"),
      h("button", { class: "btn", type: "button", onclick: () => fileInput.click() }, "Open from file…"),
      fileInput),
    list,
  );
  const projects = await attempt(() => api("GET", "/projects"));
  if (!projects) return;
  if (!projects.length) list.append(h("p", { class: "empty" }, "No projects yet. Name one above and press “New image project”, “New sound project”, “New pose project” or “New hand gesture project”."));
  for (const p of projects) list.append(projectItem(p));
}

function projectItem(p) {
  const rename = async () => {
    const name = prompt("New name for the project", p.name);
    if (name && name.trim()) {
      const done = await attempt(() => api("PATCH", `/projects/${p.id}`, { name }), "Renamed.");
      if (done) route();
    }
  };
  const remove = async () => {
    if (!confirm(`Delete “${p.name}” and all its samples and models? This cannot be undone.`)) return;
    if (await attempt(() => api("DELETE", `/projects/${p.id}`), "Project deleted.") !== undefined) route();
  };
  const duplicate = async () => {
    if (await attempt(() => api("POST", `/projects/${p.id}/duplicate`), "Project duplicated.")) route();
  };
  return h("article", { class: "card project-item" },
    h("h2", {}, h("a", { href: `#/p/${p.id}` }, p.name)),
    h("p", { class: "muted small" }, `${p.kind} project · ${p.classes} classes · ${p.samples} samples`),
    h("div", { class: "row" },
      h("a", { class: "btn primary", href: `#/p/${p.id}` }, "Open"),
      h("button", { class: "btn", onclick: rename }, "Rename"),
      h("button", { class: "btn", onclick: duplicate }, "Duplicate"),
      h("button", { class: "btn", onclick: () => download(`/api/projects/${p.id}/file`, `${p.id}.teachable-project`) }, "Save to file"),
      h("button", { class: "btn danger", onclick: remove }, "Delete")));
}

// ---------------------------------------------------------------------------------------------
// project page

async function showProject(id) {
  const state = { id, project: null, alive: true, cleanups: [] };
  leaveCurrent = () => { state.alive = false; state.cleanups.forEach((f) => f()); };
  const project = await attempt(() => api("GET", `/projects/${id}`));
  if (!project) { app.append(h("p", { class: "empty" }, h("a", { href: "#/" }, "Back to your projects"))); return; }
  state.project = project;
  document.title = `Teachable: ${project.name}`;

  const classesColumn = h("section", { class: "stack", "aria-label": "Classes" });
  const training = trainingCard(state);
  const preview = previewCard(state);
  const title = h("input", { class: "title", value: project.name, "aria-label": "Project name" });
  title.addEventListener("change", async () => {
    const updated = await attempt(() => api("PATCH", `/projects/${state.id}`, { name: title.value }), "Project renamed.");
    if (updated && updated.id !== state.id) location.hash = `#/p/${updated.id}`;
  });
  app.append(
    h("div", { class: "project-head" },
      h("a", { href: "#/", class: "btn" }, "← Projects"), title,
      h("button", { class: "btn", onclick: () => download(`/api/projects/${state.id}/file`, `${state.id}.teachable-project`) }, "Save to file")),
    h("div", { class: "columns" }, classesColumn, training.element, preview.element),
  );

  state.refresh = async () => {
    const fresh = await attempt(() => api("GET", `/projects/${state.id}`));
    if (!fresh || !state.alive) return;
    state.project = fresh;
    renderClasses();
    training.update();
    preview.update();
  };

  const cards = new Map();
  function renderClasses() {
    const ids = new Set(state.project.classes.map((c) => c.id));
    for (const [cid, card] of cards) if (!ids.has(cid)) { card.destroy(); cards.delete(cid); }
    state.project.classes.forEach((info, index) => {
      if (!cards.has(info.id)) cards.set(info.id, classCard(state, info));
      cards.get(info.id).update(info, index);
    });
    const wanted = state.project.classes.map((c) => cards.get(c.id).element);
    const current = [...classesColumn.children].slice(0, -1);
    // Re-inserting a card would cancel a recording in progress (its button loses the pointer).
    if (classesColumn.lastElementChild !== addButton || current.length !== wanted.length
        || current.some((el, i) => el !== wanted[i])) {
      classesColumn.replaceChildren(...wanted, addButton);
    }
  }
  const addButton = addClassButton();
  function addClassButton() {
    return h("button", { class: "btn add-class", onclick: async () => {
      const used = new Set(state.project.classes.map((c) => c.name));
      let n = state.project.classes.length + 1;
      while (used.has(`Class ${n}`)) n++;
      if (await attempt(() => api("POST", `/projects/${state.id}/classes`, { name: `Class ${n}` }))) state.refresh();
    } }, "+ Add a class");
  }
  renderClasses();
  training.update();
  preview.update();
  if (["embedding", "training"].includes(project.training.state)) training.follow();
  // embeddings are computed in the background: refresh while some are pending
  const timer = setInterval(() => { if (state.project.pending_embeddings > 0) state.refresh(); }, 1500);
  state.cleanups.push(() => clearInterval(timer));
}

// A button that records while held down: mouse, touch, Space or Enter. The pointer is captured,
// so the page growing with new samples under the finger does not end the recording.
function holdToRecord(button, onStart, onStop) {
  let held = false;
  const start = (e) => {
    if (e) e.preventDefault();
    if (e && e.pointerId !== undefined) button.setPointerCapture(e.pointerId);
    if (held) return;
    held = true;
    button.classList.add("recording");
    button.textContent = "Recording…";
    onStart();
  };
  const stop = () => {
    if (!held) return;
    held = false;
    button.classList.remove("recording");
    button.textContent = "Hold to record";
    onStop();
  };
  button.addEventListener("pointerdown", start);
  button.addEventListener("pointerup", stop);
  button.addEventListener("pointercancel", stop);
  button.addEventListener("lostpointercapture", stop);
  button.addEventListener("keydown", (e) => { if ((e.key === " " || e.key === "Enter") && !e.repeat) start(e); });
  button.addEventListener("keyup", (e) => { if (e.key === " " || e.key === "Enter") stop(); });
}

function colourOf(index) { return COLOURS[index % COLOURS.length]; }

const BACKGROUND = "Background Noise";

function soundNeed(info) { return info.name === BACKGROUND ? 20 : 8; }

function classCard(state, initial) {
  const sound = state.project.kind === "sound";
  const keypoints = isKeypointKind(state.project.kind);
  let info = initial;
  const name = h("input", { class: "class-name", value: info.name, "aria-label": "Class name" });
  const swatch = h("span", { class: "swatch" });
  const count = h("span", { class: "count" });
  const thumbs = h("div", { class: "thumbs", "aria-label": "Samples" });
  const fileInput = h("input", { type: "file", accept: sound ? "audio/*,.wav,.flac,.ogg,.mp3" : "image/*", multiple: true,
    class: "visually-hidden", "aria-label": sound ? "Choose sound files" : "Choose image files" });
  const drop = h("div", { class: "dropzone" }, sound ? "Drop sound files or folders here" : "Drop images or folders here");
  const webcamButton = h("button", { class: "btn", "aria-pressed": "false" }, sound ? "Microphone" : "Webcam");
  const panel = h("div");
  let shownSamples = "";
  let webcam = null;

  name.addEventListener("change", async () => {
    const updated = await attempt(() => api("PATCH", `/projects/${state.id}/classes/${info.id}`, { name: name.value }));
    if (updated) state.refresh(); else name.value = info.name;
  });
  fileInput.addEventListener("change", () => { upload([...fileInput.files], "upload"); fileInput.value = ""; });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    upload(await droppedFiles(e.dataTransfer), "upload");
  });

  async function upload(files, source) {
    const wanted = sound ? "audio/" : "image/";
    const images = files.filter((f) => !f.type || f.type.startsWith(wanted));
    if (files.length && !images.length) { toast(sound ? "Those files are not sounds." : "Those files are not images.", "error"); return; }
    let added = 0;
    for (let i = 0; i < images.length; i += 50) {
      const form = new FormData();
      images.slice(i, i + 50).forEach((f) => form.append("files", f, f.name || "webcam.jpg"));
      form.append("source", source);
      const result = await attempt(() => api("POST", `/projects/${state.id}/classes/${info.id}/samples`, form));
      if (result) added += result.ids.length;
      if (result && result.errors.length) toast(`${result.errors.length} file(s) skipped: ${result.errors[0].error}`, "error");
    }
    if (source === "upload" && added) toast(`Added ${added} ${sound ? "sound" : "image"}(s) to ${info.name}.`);
    state.refresh();
  }

  async function toggleMicrophone() {
    if (webcam) { closeWebcam(); return; }
    webcamButton.setAttribute("aria-pressed", "true");
    const meter = h("meter", { min: "0", max: "1", value: "0", class: "level", "aria-label": "Sound level" });
    const spectrogram = h("canvas", { class: "spectrogram", width: "320", height: "96", "aria-label": "Live spectrogram" });
    const record = h("button", { class: "btn primary", "aria-label": `Hold to record sounds for ${info.name}` }, "Hold to record");
    let recording = false;
    let pending = [];
    const collector = new ClipCollector((clip) => {
      if (!recording) return;
      pending.push(new File([wavBlob(clip)], `mic-${Date.now()}.wav`, { type: "audio/wav" }));
      if (pending.length >= 2) flush();
    });
    const flush = async () => { const batch = pending; pending = []; if (batch.length) await upload(batch, "microphone"); };
    let mic;
    try {
      mic = await openMicrophone({ onSamples: (s) => collector.push(s), meter, spectrogram });
    } catch (err) {
      toast(`The microphone could not be opened: ${err.message}. Allow microphone access and try again.`, "error");
      closeWebcam();
      return;
    }
    holdToRecord(record, () => {
      collector.filled = 0; // clips start when the button goes down
      recording = true;
    }, () => {
      recording = false;
      setTimeout(flush, 100);
    });
    webcam = { stop() { mic.close(); } };
    panel.replaceChildren(h("div", { class: "webcam-panel" },
      h("label", { class: "small muted" }, "Level ", meter), spectrogram, record,
      h("p", { class: "small muted", text: "Every second recorded while the button is held becomes one sample." })));
  }

  async function toggleWebcam() {
    if (webcam) { closeWebcam(); return; }
    webcamButton.setAttribute("aria-pressed", "true");
    webcam = await webcamView(closeWebcam, keypoints);
    if (!webcam) return;
    if (keypoints) {
      const view = webcam;
      const stopStream = liveStream(state, view.video, "landmarks", (reply) => drawSkeleton(view.overlay, reply.landmarks, state.project.skeleton));
      const stopView = view.stop;
      view.stop = () => { stopStream(); stopView(); };
    }
    const record = h("button", { class: "btn primary", "aria-label": `Hold to record samples for ${info.name}` }, "Hold to record");
    let timer = null;
    let pending = [];
    const flush = async () => {
      const batch = pending; pending = [];
      if (batch.length) await upload(batch, "webcam");
    };
    holdToRecord(record, () => {
      let n = 0;
      timer = setInterval(async () => {
        const blob = await grabFrame(webcam.video);
        if (blob) pending.push(new File([blob], `webcam-${Date.now()}-${n++}.jpg`, { type: "image/jpeg" }));
        if (pending.length >= RECORD_FPS) flush();
      }, 1000 / RECORD_FPS);
    }, () => {
      clearInterval(timer);
      timer = null;
      setTimeout(flush, 250);
    });
    webcam.wrapper.append(record, h("p", { class: "small muted" }, `Captures ${RECORD_FPS} frames a second while pressed (mouse, touch, Space or Enter).`));
    panel.replaceChildren(webcam.wrapper);
  }
  function closeWebcam() {
    if (webcam) webcam.stop();
    webcam = null;
    panel.replaceChildren();
    webcamButton.setAttribute("aria-pressed", "false");
  }
  webcamButton.addEventListener("click", sound ? toggleMicrophone : toggleWebcam);

  const menu = h("details", { class: "menu" },
    h("summary", { "aria-label": "Class options" }, "⋮"),
    h("div", { class: "menu-items" },
      h("button", { onclick: async () => {
        menu.open = false;
        if (!confirm(`Remove every sample from “${info.name}”?`)) return;
        if (await attempt(() => api("POST", `/projects/${state.id}/classes/${info.id}/clear`), "Class cleared.")) state.refresh();
      } }, "Remove all samples"),
      h("button", { onclick: async () => {
        menu.open = false;
        if (!confirm(`Delete the class “${info.name}” and its samples?`)) return;
        if (await attempt(() => api("DELETE", `/projects/${state.id}/classes/${info.id}`), "Class deleted.") !== undefined) state.refresh();
      } }, "Delete class")));

  const element = h("article", { class: "card class-card" },
    h("div", { class: "class-head" }, swatch, name, count, menu),
    thumbs,
    h("div", { class: "row" }, webcamButton,
      h("button", { class: "btn", onclick: () => fileInput.click() }, "Upload"), fileInput),
    drop, panel);

  async function loadThumbnails() {
    const samples = await attempt(() => api("GET", `/projects/${state.id}/classes/${info.id}/samples`));
    if (!samples) return;
    thumbs.replaceChildren(...samples.slice().reverse().map((s) => h("div", { class: sound ? "thumb sound" : "thumb" },
      h("img", { src: `/api/projects/${state.id}/samples/${s.id}/thumbnail`, alt: sound ? `Sound sample ${s.id}: click to play` : `Sample ${s.id}`,
        loading: "lazy", title: sound ? "Play" : "",
        onclick: sound ? () => new Audio(`/api/projects/${state.id}/samples/${s.id}/data`).play() : undefined }),
      h("button", { "aria-label": `Delete sample ${s.id}`, title: "Delete this sample", onclick: async () => {
        if (await attempt(() => api("DELETE", `/projects/${state.id}/samples/${s.id}`)) !== undefined) state.refresh();
      } }, "×"))));
  }

  return {
    element,
    update(next, index) {
      info = next;
      if (document.activeElement !== name) name.value = info.name;
      swatch.style.background = colourOf(index);
      count.textContent = sound ? `${info.count} / ${soundNeed(info)} samples` : `${info.count} sample${info.count === 1 ? "" : "s"}`;
      count.classList.toggle("short", sound && info.count < soundNeed(info));
      const signature = `${info.count}:${state.project.version}`;
      if (signature !== shownSamples) { shownSamples = signature; loadThumbnails(); }
    },
    destroy() { closeWebcam(); },
  };
}

// Files from a drop, folders included (read recursively).
async function droppedFiles(transfer) {
  const entries = [...transfer.items].map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean);
  if (!entries.length) return [...transfer.files];
  const files = [];
  async function walk(entry) {
    if (entry.isFile) files.push(await new Promise((resolve, reject) => entry.file(resolve, reject)));
    else if (entry.isDirectory) {
      const reader = entry.createReader();
      let batch;
      do {
        batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        for (const child of batch) await walk(child);
      } while (batch.length);
    }
  }
  for (const entry of entries) await walk(entry);
  return files;
}

// ---------------------------------------------------------------------------------------------
// training card

function trainingCard(state) {
  const button = h("button", { class: "btn primary", id: "train" }, "Train model");
  const reason = h("p", { class: "reason" });
  const progressBar = h("div");
  const progress = h("div", { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100" }, progressBar);
  const status = h("p", { class: "small muted", "aria-live": "polite" });
  const fields = {
    classifier: h("select", { id: "opt-classifier" }, h("option", { value: "head", text: "Trained head (softmax)" }), h("option", { value: "knn", text: "k nearest neighbours (instant)" })),
    epochs: h("input", { id: "opt-epochs", type: "number", min: "1", max: "10000" }),
    batch_size: h("input", { id: "opt-batch", type: "number", min: "1", max: "65536" }),
    learning_rate: h("input", { id: "opt-lr", type: "number", min: "0.000001", step: "any" }),
    k: h("input", { id: "opt-k", type: "number", min: "1", max: "1000" }),
  };
  const labels = { classifier: "Classifier", epochs: "Epochs", batch_size: "Batch size", learning_rate: "Learning rate", k: "k (neighbours)" };
  const grid = h("div", { class: "form-grid" });
  for (const [key, input] of Object.entries(fields)) {
    grid.append(h("label", { for: input.id, text: labels[key] }), input);
    input.addEventListener("change", saveSettings);
  }
  const reset = h("button", { class: "btn", type: "button", onclick: async () => {
    const defaults = state.project.defaults;
    const saved = await attempt(() => api("PUT", `/projects/${state.id}/settings`, pick(defaults)), "Settings reset to defaults.");
    if (saved) { state.project.settings = saved; fill(); state.refresh(); }
  } }, "Reset to defaults");
  const lossChart = h("canvas", { class: "chart", width: "600", height: "300", "aria-label": "Loss per epoch" });
  const accChart = h("canvas", { class: "chart", width: "600", height: "300", "aria-label": "Accuracy per epoch" });
  const chartNote = h("p", { class: "small muted" });
  const perClass = h("div");
  const matrix = h("div");
  const notes = h("div", { class: "small muted" });
  const element = h("section", { class: "card", "aria-label": "Training" },
    h("h2", { text: "Training" }), button, reason, progress, status,
    h("details", { class: "section" }, h("summary", { text: "Advanced" }), grid, h("div", { class: "row" }, reset)),
    h("details", { class: "section", id: "under-the-hood" }, h("summary", { text: "Under the hood" }), chartNote,
      h("h3", { class: "small", text: "Loss per epoch" }), legend(), lossChart,
      h("h3", { class: "small", text: "Accuracy per epoch" }), legend(), accChart,
      h("h3", { class: "small", text: "Accuracy per class (validation)" }), perClass,
      h("h3", { class: "small", text: "Confusion matrix (rows: true class, columns: predicted)" }), matrix, notes));
  progress.hidden = true;

  function pick(values) {
    const out = {};
    for (const key of Object.keys(fields)) out[key] = values[key];
    return out;
  }
  function fill() {
    const s = state.project.settings;
    fields.classifier.value = s.classifier;
    for (const key of ["epochs", "batch_size", "learning_rate", "k"]) fields[key].value = s[key];
    const knn = s.classifier === "knn";
    for (const key of ["epochs", "batch_size", "learning_rate"]) fields[key].disabled = knn;
    fields.k.disabled = !knn;
  }
  async function saveSettings() {
    const body = { classifier: fields.classifier.value };
    for (const key of ["epochs", "batch_size", "k"]) body[key] = parseInt(fields[key].value, 10);
    body.learning_rate = parseFloat(fields.learning_rate.value);
    const saved = await attempt(() => api("PUT", `/projects/${state.id}/settings`, body));
    if (saved) { state.project.settings = saved; fill(); state.refresh(); } else fill();
  }
  function whyNot() {
    const classes = state.project.classes;
    if (classes.length < 2) return "Add at least two classes to train.";
    if (state.project.kind === "sound") {
      const short = classes.filter((c) => c.count < soundNeed(c)).map((c) => `${c.name} (${c.count}/${soundNeed(c)})`);
      if (!classes.some((c) => c.name === BACKGROUND)) return `A sound project needs a “${BACKGROUND}” class.`;
      if (short.length) return `Record more: ${short.join(", ")}. Background noise needs 20 samples, other classes 8.`;
    }
    const empty = classes.filter((c) => c.count === 0).map((c) => c.name);
    if (empty.length) return `Add samples to ${empty.join(", ")} first (every class needs at least one).`;
    if (["embedding", "training"].includes(state.project.training.state)) return "Training…";
    return "";
  }
  button.addEventListener("click", async () => {
    const job = await attempt(() => api("POST", `/projects/${state.id}/train`));
    if (job) { state.project.training = job; follow(); }
  });

  let following = false;
  async function follow() {
    if (following) return;
    following = true;
    while (state.alive) {
      const job = await attempt(() => api("GET", `/projects/${state.id}/train`));
      if (!job) break;
      state.project.training = job;
      showJob(job);
      if (job.state === "done" || job.state === "failed") {
        if (job.state === "done") toast("Training finished. Try it in the preview!");
        else toast(job.error || "Training failed.", "error");
        break;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    following = false;
    state.refresh();
  }

  function showJob(job) {
    const running = job.state === "embedding" || job.state === "training";
    progress.hidden = !running && job.state !== "done";
    let fraction = 0;
    if (job.state === "embedding") {
      fraction = job.to_embed ? job.embedded / job.to_embed * 0.3 : 0.3;
      status.textContent = job.to_embed ? `Preparing samples… ${job.embedded}/${job.to_embed}` : "Preparing samples…";
    } else if (job.state === "training") {
      fraction = 0.3 + 0.7 * (job.epoch / Math.max(job.epochs, 1));
      status.textContent = `Training: epoch ${job.epoch} of ${job.epochs}`;
    } else if (job.state === "done") {
      fraction = 1;
      const acc = job.report ? ` Validation accuracy ${(job.report.accuracy * 100).toFixed(0)}%.` : "";
      status.textContent = `Model trained (${job.settings.classifier === "knn" ? "kNN" : "trained head"}).${acc}`;
    } else if (job.state === "failed") {
      status.textContent = job.error || "Training failed.";
    } else status.textContent = "";
    progressBar.style.width = `${Math.round(fraction * 100)}%`;
    progress.setAttribute("aria-valuenow", String(Math.round(fraction * 100)));
    const knnRun = job.settings && job.settings.classifier === "knn" && job.state === "done";
    chartNote.textContent = knnRun ? "kNN learns nothing epoch by epoch: it keeps the examples, so there are no curves. Its accuracy is below." : "";
    drawChart(lossChart, job.history, [["loss", "#1a73e8"], ["val_loss", "#e8710a"]]);
    drawChart(accChart, job.history, [["accuracy", "#1a73e8"], ["val_accuracy", "#e8710a"]], 1);
    showReport(job.report || (state.project.model && state.project.model.metrics), job.notes);
  }

  function showReport(report, jobNotes) {
    if (!report) { perClass.replaceChildren(h("p", { class: "small muted", text: "Train to see how the model does on held-out samples." })); matrix.replaceChildren(); return; }
    perClass.replaceChildren(h("table", { class: "per-class" },
      h("tr", {}, h("th", { text: "class" }), h("th", { text: "accuracy" })),
      ...report.labels.map((label) => h("tr", {}, h("td", { text: label }),
        h("td", { text: report.per_class[label] === null ? "n/a" : `${(report.per_class[label] * 100).toFixed(0)}%` })))));
    matrix.replaceChildren(h("table", { class: "matrix", id: "confusion" },
      h("tr", {}, h("th", {}), ...report.labels.map((l) => h("th", { text: l }))),
      ...report.confusion.map((row, i) => h("tr", {}, h("th", { text: report.labels[i] }),
        ...row.map((v, j) => h("td", { class: i === j ? "diag" : "", text: String(v) }))))));
    notes.replaceChildren(...[...(report.notes || []), ...(jobNotes || [])].filter((n, i, all) => all.indexOf(n) === i)
      .map((n) => h("p", { text: n })));
  }

  return {
    element,
    follow,
    update() {
      fill();
      const why = whyNot();
      button.disabled = Boolean(why);
      reason.textContent = why;
      if (!following) showJob(state.project.training);
    },
  };
}

function legend() {
  const train = h("span", { text: "training" });
  train.style.setProperty("--c", "#1a73e8");
  const val = h("span", { text: "validation" });
  val.style.setProperty("--c", "#e8710a");
  return h("div", { class: "legend" }, train, val);
}

function drawChart(canvas, history, series, fixedMax) {
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const pad = 36;
  ctx.strokeStyle = "#dfe3ec";
  ctx.lineWidth = 2;
  ctx.strokeRect(pad, 8, width - pad - 8, height - pad - 8);
  if (!history || !history.length) return;
  const values = series.flatMap(([key]) => history.map((h) => h[key]).filter((v) => v !== null && v !== undefined));
  const max = fixedMax || Math.max(...values, 1e-6) * 1.05;
  ctx.fillStyle = "#5f6675";
  ctx.font = "20px system-ui";
  ctx.fillText(max.toFixed(2), 2, 24);
  ctx.fillText("0", 14, height - pad);
  ctx.fillText(`epoch ${history.length}`, width - 140, height - 6);
  const x = (i) => pad + (history.length === 1 ? 0 : (i / (history.length - 1)) * (width - pad - 10));
  const y = (v) => 8 + (1 - v / max) * (height - pad - 16);
  for (const [key, colour] of series) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 3;
    ctx.beginPath();
    let started = false;
    history.forEach((point, i) => {
      const v = point[key];
      if (v === null || v === undefined) return;
      if (!started) { ctx.moveTo(x(i), y(v)); started = true; } else ctx.lineTo(x(i), y(v));
    });
    ctx.stroke();
  }
}

// ---------------------------------------------------------------------------------------------
// export: downloads and code to copy

function exportCard(state) {
  const base = `${location.origin}/api/projects/${state.id}`;
  const sound = state.project.kind === "sound";
  const snippets = sound ? [
    ["Any language, over HTTP (while Teachable runs)", `curl -X POST ${base}/predict -F clip=@clip.wav`],
    ["Python (in the ONNX bundle)", "pip install onnxruntime numpy soundfile soxr\npython predict.py clip.wav\npython predict.py --listen recording.wav"],
    ["Command line, with Teachable installed", "teachable listen model.teachable recording.wav\nteachable listen model.teachable      # the microphone"],
  ] : [
    ["Any language, over HTTP (while Teachable runs)", `curl -X POST ${base}/predict -F image=@photo.jpg`],
    ["Python (in the ONNX bundle)", "pip install onnxruntime pillow numpy\npython predict.py photo.jpg\npython predict.py --webcam      # needs opencv-python"],
    ["Node.js (in the ONNX bundle)", "npm install\nnode predict.mjs photo.jpg"],
    ["A web page on the webcam (in the ONNX bundle)", "python -m http.server 8080   # in the bundle folder\n# then open http://localhost:8080/index.html"],
    ["Python, with Teachable installed", "import teachable\nmodel = teachable.load(\"model.teachable\")\nprint(model.predict(\"photo.jpg\").label)"],
  ];
  return h("div", { class: "export", id: "export-panel" },
    h("h3", { text: "Export" }),
    h("div", { class: "row" },
      h("button", { class: "btn primary", id: "download-teachable",
        onclick: () => download(`${base}/models/current/download`, `${state.id}.teachable`) }, "Download .teachable"),
      h("button", { class: "btn", id: "download-onnx",
        onclick: () => download(`${base}/models/current/export?format=onnx`, `${state.id}-onnx.zip`) }, "Download ONNX bundle (.zip)")),
    h("p", { class: "small muted", text: sound
      ? "The ONNX bundle holds the classifier (model.onnx), Google's speech_embedding front end, the exact recipe, and predict.py."
      : "The ONNX bundle holds model.onnx (the whole model: photo in, probabilities out), its labels and input recipe, and ready-to-run examples." }),
    ...snippets.map(([title, code]) => {
      const pre = h("pre", { class: "snippet" }, h("code", { text: code }));
      const copy = h("button", { class: "btn small-btn", onclick: async () => {
        try { await navigator.clipboard.writeText(code); toast("Copied."); }
        catch (_) { toast("Select the text and copy it with Ctrl+C.", "error"); }
      } }, "Copy");
      return h("div", { class: "snippet-block" }, h("div", { class: "row between" }, h("strong", { class: "small", text: title }), copy), pre);
    }));
}

// ---------------------------------------------------------------------------------------------
// preview card

function previewCard(state) {
  const bars = h("div", { class: "bars", id: "bars" });
  const note = h("p", { class: "small muted", id: "preview-note" });
  const body = h("div");
  const sound = state.project.kind === "sound";
  const keypoints = isKeypointKind(state.project.kind);
  const nobody = state.project.kind === "hand" ? "No hand in view." : "No person in view.";
  const webcamTab = h("button", { "aria-pressed": "false" }, sound ? "Listen" : "Webcam");
  const fileTab = h("button", { "aria-pressed": "false" }, "File");
  const exportButton = h("button", { class: "btn", id: "export", "aria-expanded": "false" }, "Export model");
  const latency = h("p", { class: "small muted", id: "latency" });
  const exportPanel = exportCard(state);
  exportPanel.hidden = true;
  const element = h("section", { class: "card", "aria-label": "Preview" },
    h("h2", { text: "Preview" }),
    h("div", { class: "row" }, h("div", { class: "switch", role: "group", "aria-label": "Preview input" }, webcamTab, fileTab), exportButton),
    note, body, bars, latency, exportPanel);
  let mode = null;
  let stopMode = () => {};
  state.cleanups.push(() => stopMode());

  exportButton.addEventListener("click", () => {
    exportPanel.hidden = !exportPanel.hidden;
    exportButton.setAttribute("aria-expanded", String(!exportPanel.hidden));
    if (!exportPanel.hidden) exportPanel.scrollIntoView({ behavior: "smooth", block: "nearest" });
  });

  function ready() {
    const p = state.project;
    if (p.settings.classifier === "knn") {
      const empty = p.classes.filter((c) => c.count === 0);
      if (sound && (p.classes.length < 2 || empty.length)) return "Listening starts as soon as every class (at least two) has a sample.";
      if (p.classes.length < 2 || empty.length) return "kNN preview starts as soon as every class (at least two) has a sample.";
      return "";
    }
    return p.model ? "" : "Train a model to preview it (or choose kNN under Advanced for instant results).";
  }

  let last = [null, null];
  function setBars(confidences, winner) {
    last = [confidences, winner];
    const names = state.project.classes.map((c) => c.name);
    if (bars.dataset.names !== names.join("\n")) {
      bars.dataset.names = names.join("\n");
      bars.replaceChildren(...names.map((name, i) => {
        const fill = h("div", { class: "fill" });
        fill.style.background = colourOf(i);
        return h("div", { class: "bar", "data-label": name }, h("span", { class: "label", text: name }),
          h("div", { class: "track" }, fill, h("span", { class: "pct", text: "0%" })));
      }));
    }
    for (const bar of bars.children) {
      const value = confidences ? confidences[bar.dataset.label] || 0 : 0;
      bar.querySelector(".fill").style.width = `${(value * 100).toFixed(1)}%`;
      bar.querySelector(".pct").textContent = `${Math.round(value * 100)}%`;
      bar.classList.toggle("winner", bar.dataset.label === winner);
    }
    bars.dataset.winner = winner || "";
  }

  async function startWebcam() {
    const holder = h("div");
    body.replaceChildren(holder);
    const view = await webcamView(() => switchTo(null), keypoints);
    if (!view) return () => {};
    holder.replaceChildren(view.overlay ? view.overlay.parentElement : view.video);
    const times = [];
    const stopStream = liveStream(state, view.video, "predict", (reply) => {
      if (view.overlay) drawSkeleton(view.overlay, reply.landmarks, state.project.skeleton);
      if (reply.nothing_detected) {
        note.textContent = nobody;
        setBars(null, null);
        return;
      }
      if (reply.error) { note.textContent = reply.error; return; }
      note.textContent = "";
      setBars(reply.confidences, reply.label);
      const now = performance.now();
      times.push(now);
      while (times.length && now - times[0] > 2000) times.shift();
      latency.textContent = `${(times.length / 2).toFixed(0)} predictions/s · ${reply.ms} ms server time`;
    });
    return () => { stopStream(); view.stop(); };
  }

  async function startListening() {
    const overlap = h("select", { "aria-label": "Overlap factor" },
      ...[["0.25", "0.25"], ["0.5", "0.5"], ["0.75", "0.75"]].map(([v, t]) => h("option", { value: v, text: t })));
    overlap.value = "0.5";
    const threshold = h("input", { type: "range", min: "0", max: "1", step: "0.05", value: "0.5", "aria-label": "Probability threshold" });
    const heard = h("p", { class: "heard", id: "heard", "aria-live": "polite" });
    const spectrogram = h("canvas", { class: "spectrogram", width: "320", height: "96", "aria-label": "Live spectrogram" });
    const meter = h("meter", { min: "0", max: "1", value: "0", class: "level", "aria-label": "Sound level" });
    body.replaceChildren(h("div", { class: "form-grid" },
      h("label", { text: "Overlap factor" }), overlap, h("label", { text: "Probability threshold" }), threshold),
      h("label", { class: "small muted" }, "Level ", meter), spectrogram, heard);
    const recent = new RollingWindow();
    let mic;
    try {
      mic = await openMicrophone({ onSamples: (s) => recent.push(s), meter, spectrogram });
    } catch (err) {
      toast(`The microphone could not be opened: ${err.message}.`, "error");
      return () => {};
    }
    const protocol = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${protocol}://${location.host}/api/projects/${state.id}/live`);
    socket.onmessage = (event) => {
      const reply = JSON.parse(event.data);
      if (reply.error) { note.textContent = reply.error; return; }
      note.textContent = "";
      const sure = reply.confidence >= parseFloat(threshold.value);
      setBars(reply.confidences, sure ? reply.label : null);
      heard.textContent = sure ? `Heard: ${reply.label}` : "…";
    };
    let timer = null;
    const schedule = () => {
      timer = setTimeout(async () => {
        if (recent.full() && socket.readyState === WebSocket.OPEN && socket.bufferedAmount === 0) {
          socket.send(await wavBlob(recent.snapshot()).arrayBuffer());
        }
        schedule();
      }, 1000 * (1 - parseFloat(overlap.value)));
    };
    schedule();
    return () => { clearTimeout(timer); socket.close(); mic.close(); };
  }

  function startFile() {
    const input = h("input", { type: "file", accept: sound ? "audio/*,.wav,.flac,.ogg,.mp3" : "image/*",
      "aria-label": sound ? "Sound to classify" : "Image to classify" });
    const img = h(sound ? "audio" : "img", sound ? { class: "preview-audio", controls: true } : { class: "preview-img", alt: "" });
    body.replaceChildren(input, img);
    const overlay = keypoints ? overlayFor(img, "Skeleton found in the picture") : null;
    input.addEventListener("change", async () => {
      if (!input.files.length) return;
      img.src = URL.createObjectURL(input.files[0]);
      if (overlay) drawSkeleton(overlay, null);
      const form = new FormData();
      form.append("file", input.files[0]);
      const result = await attempt(() => api("POST", `/projects/${state.id}/predict?source=live`, form));
      if (!result) { setBars(null, null); return; }
      const [prediction] = result.predictions;
      setBars(prediction.confidences, prediction.label);
      if (overlay) {
        if (!img.complete) await new Promise((resolve) => img.addEventListener("load", resolve, { once: true }));
        drawSkeleton(overlay, prediction.landmarks, state.project.skeleton);
      }
    });
    return () => {};
  }

  async function switchTo(next) {
    stopMode();
    stopMode = () => {};
    mode = next;
    webcamTab.setAttribute("aria-pressed", String(mode === "webcam"));
    fileTab.setAttribute("aria-pressed", String(mode === "file"));
    body.replaceChildren();
    latency.textContent = "";
    if (mode === "webcam") stopMode = sound ? await startListening() : await startWebcam();
    else if (mode === "file") stopMode = startFile();
  }
  webcamTab.addEventListener("click", () => switchTo(mode === "webcam" ? null : "webcam"));
  fileTab.addEventListener("click", () => switchTo(mode === "file" ? null : "file"));

  return {
    element,
    update() {
      const why = ready();
      note.textContent = why;
      webcamTab.disabled = fileTab.disabled = Boolean(why);
      exportButton.disabled = !state.project.model;
      exportButton.title = state.project.model ? "Download the trained model (.teachable)" : "Train a model first";
      if (why && mode) switchTo(null);
      setBars(...(mode ? last : [null, null]));
    },
  };
}

route();
