// The preview: the model working live on the webcam (or the microphone), or on a chosen file,
// with one bar per class; and the export panel.
import { api, liveSocketURL } from "./api.js";
import { grabFrame, liveStream, webcamView } from "./camera.js";
import { attempt, colourOf, colourOfClass, h, toast } from "./dom.js";
import { exportCard } from "./export-card.js";
import { neighboursStrip, whyPanel } from "./explain-view.js";
import { drawSkeleton, overlayFor } from "./skeleton.js";
import { RollingWindow, openMicrophone, wavBlob } from "./sound.js";

export function previewCard(state) {
  const bars = h("div", { class: "bars", id: "bars" });
  const note = h("p", { class: "small muted", id: "preview-note" });
  const body = h("div");
  const audio = state.kind.audio;
  const keypoints = state.kind.keypoints;
  const webcamTab = h("button", { "aria-pressed": "false" }, audio ? "Listen" : "Webcam");
  const fileTab = h("button", { "aria-pressed": "false" }, "File");
  const exportButton = h("button", { class: "btn", id: "export", "aria-expanded": "false" }, "Export model");
  const latency = h("p", { class: "small muted", id: "latency" });
  const exporter = exportCard(state);
  const exportPanel = exporter.element;
  exportPanel.hidden = true;
  const modelNote = h("p", { class: "small stale-note", id: "model-note" });
  const neighbours = neighboursStrip(state);
  const why = whyPanel(state);
  // "Why?" explains what is shown now: the webcam's current frame, or the chosen file.
  let explainable = null; // () => Promise<[Blob, name]> | null
  const whyButton = h("button", { class: "btn", id: "why-button", title: "Show where the model found its answer" }, "Why?");
  whyButton.hidden = true;
  whyButton.addEventListener("click", async () => {
    const input = explainable && await explainable();
    if (input) why.explain(...input);
  });
  const element = h("section", { class: "card", "aria-label": "Preview" },
    h("h2", { text: "Preview" }),
    h("div", { class: "row" }, h("div", { class: "switch", role: "group", "aria-label": "Preview input" }, webcamTab, fileTab), exportButton),
    note, modelNote, body, bars, h("div", { class: "row" }, whyButton), neighbours.element, why.element, latency);
  exportButton.setAttribute("aria-controls", "export-panel");
  let mode = null;
  let stopMode = () => {};
  state.cleanups.push(() => stopMode());

  exportButton.addEventListener("click", () => {
    exportPanel.hidden = !exportPanel.hidden;
    exportButton.setAttribute("aria-expanded", String(!exportPanel.hidden));
    if (!exportPanel.hidden) {
      // Focus moves into the panel (its heading), which is brought into view: the button's own
      // place may scroll away as the panel opens.
      const heading = exportPanel.querySelector("h3");
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
      exportPanel.scrollIntoView({ behavior: "smooth", block: "nearest" });
    }
  });

  function ready() {
    const p = state.project;
    if (p.settings.classifier === "knn") {
      const empty = p.classes.filter((c) => c.count === 0);
      if (p.classes.length < 2 || empty.length) return `${audio ? "Listening" : "kNN preview"} starts as soon as every class (at least two) has a sample.`;
      return "";
    }
    return p.model ? "" : "Train a model to preview it (or choose kNN under Advanced for instant results).";
  }

  // The bars are the classes the model answers with: a trained model's own labels (until it is
  // trained again), or the classes themselves for the live kNN.
  function labels() {
    const p = state.project;
    const own = p.settings.classifier !== "knn" && p.model_status && p.model_status.labels;
    return own || p.classes.map((c) => c.name);
  }

  let last = [null, null];
  function setBars(confidences, winner) {
    last = [confidences, winner];
    const names = labels();
    const ids = Object.fromEntries(state.project.classes.map((c) => [c.name, c.id]));
    if (bars.dataset.names !== names.join("\n")) {
      bars.dataset.names = names.join("\n");
      bars.replaceChildren(...names.map((name, i) => {
        const fill = h("div", { class: "fill" });
        fill.style.background = name in ids ? colourOfClass(ids[name]) : colourOf(i);
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
      if (reply.error) {
        note.textContent = reply.error;
        if (reply.nothing_detected) setBars(null, null);
        return;
      }
      note.textContent = "";
      setBars(reply.confidences, reply.label);
      neighbours.show(reply.neighbours, reply.label);
      const now = performance.now();
      times.push(now);
      while (times.length && now - times[0] > 2000) times.shift();
      latency.textContent = `${(times.length / 2).toFixed(0)} predictions/s · ${reply.ms} ms server time`;
    }, true);
    explainable = async () => { const blob = await grabFrame(view.video); return blob ? [blob, "frame.jpg"] : null; };
    whyButton.hidden = false;
    return () => { stopStream(); view.stop(); };
  }

  async function startListening() {
    const overlap = h("select", { "aria-label": "Overlap factor" },
      ...["0.25", "0.5", "0.75"].map((v) => h("option", { value: v, text: v })));
    overlap.value = "0.5";
    const threshold = h("input", { type: "range", min: "0", max: "1", step: "0.05", value: "0.5", "aria-label": "Probability threshold" });
    const thresholdValue = h("output", { class: "small", text: "0.50" });
    threshold.addEventListener("input", () => { thresholdValue.textContent = Number(threshold.value).toFixed(2); });
    const heard = h("p", { class: "heard", id: "heard", "aria-live": "polite" });
    const spectrogram = h("canvas", { class: "spectrogram", width: "320", height: "96", "aria-label": "Live spectrogram" });
    const meter = h("meter", { min: "0", max: "1", value: "0", class: "level", "aria-label": "Sound level" });
    body.replaceChildren(h("div", { class: "form-grid" },
      h("label", { text: "Overlap factor" }), overlap, h("label", { text: "Probability threshold" }),
      h("span", { class: "row" }, threshold, thresholdValue)),
      h("label", { class: "small muted" }, "Level ", meter), spectrogram, heard);
    const recent = new RollingWindow();
    let mic;
    try {
      mic = await openMicrophone({ onSamples: (s) => recent.push(s), meter, spectrogram });
    } catch (err) {
      toast(`The microphone could not be opened: ${err.message}.`, "error");
      return () => {};
    }
    const socket = new WebSocket(liveSocketURL(state.id, "predict", true));
    socket.onmessage = (event) => {
      const reply = JSON.parse(event.data);
      if (reply.error) { note.textContent = reply.error; return; }
      note.textContent = "";
      const sure = reply.confidence >= parseFloat(threshold.value);
      setBars(reply.confidences, sure ? reply.label : null);
      neighbours.show(sure ? reply.neighbours : null, reply.label);
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
    const input = h("input", { type: "file", accept: [audio ? "audio/*" : "image/*", ...state.kind.accept].join(","),
      class: "visually-hidden", tabindex: "-1", "aria-hidden": "true" });
    const choose = h("button", { class: "btn", type: "button", onclick: () => input.click() }, audio ? "Choose a sound file…" : "Choose a picture…");
    const drop = h("div", { class: "dropzone", id: "preview-drop" }, `Drop a ${audio ? "sound file" : "picture"} here, or `, choose, input);
    const shown = h(audio ? "audio" : "img", audio ? { class: "preview-audio", controls: true } : { class: "preview-img", alt: "The file being classified" });
    shown.hidden = true;
    body.replaceChildren(drop, shown);
    const overlay = keypoints ? overlayFor(shown, "Skeleton found in the picture") : null;
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files.length) classify(e.dataTransfer.files[0]); });
    input.addEventListener("change", () => { if (input.files.length) classify(input.files[0]); });
    async function classify(file) {
      shown.hidden = false;
      shown.src = URL.createObjectURL(file);
      if (overlay) drawSkeleton(overlay, null);
      const form = new FormData();
      form.append("file", file);
      why.hide();
      const result = await attempt(() => api("POST", `/projects/${state.id}/predict?source=live&explain=true`, form));
      if (!result) { setBars(null, null); neighbours.clear(); return; }
      const [prediction] = result.predictions;
      setBars(prediction.confidences, prediction.label);
      neighbours.show(prediction.neighbours, prediction.label);
      explainable = async () => [file, file.name];
      whyButton.hidden = false;
      if (overlay) {
        if (!shown.complete) await new Promise((resolve) => shown.addEventListener("load", resolve, { once: true }));
        drawSkeleton(overlay, prediction.landmarks, state.project.skeleton);
      }
    }
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
    last = [null, null]; // what the webcam or the microphone said is not about the next input
    setBars(null, null);
    neighbours.clear();
    why.hide();
    explainable = null;
    whyButton.hidden = true;
    if (mode === "webcam") stopMode = audio ? await startListening() : await startWebcam();
    else if (mode === "file") stopMode = startFile();
  }
  webcamTab.addEventListener("click", () => switchTo(mode === "webcam" ? null : "webcam"));
  fileTab.addEventListener("click", () => switchTo(mode === "file" ? null : "file"));

  return {
    element,
    exportPanel, // placed by the project view under the three columns, where its code has room
    // Start the live preview (after the first training), unless the user chose something already.
    start() { if (!mode && !webcamTab.disabled) switchTo("webcam"); },
    update() {
      const why = ready();
      note.textContent = why;
      const status = state.project.model_status;
      const usingModel = state.project.settings.classifier !== "knn";
      modelNote.textContent = usingModel && status && status.stale
        ? `This preview shows the model trained before your changes (classes: ${status.labels.join(", ")}).` : "";
      exporter.update();
      webcamTab.disabled = fileTab.disabled = Boolean(why);
      exportButton.disabled = !state.project.model;
      exportButton.title = state.project.model ? "Download the trained model (.teachable)" : "Train a model first";
      if (why && mode) switchTo(null);
      setBars(...(mode ? last : [null, null]));
    },
  };
}
