// Recording samples into a class: the webcam (frames while the button is held) and the
// microphone (one-second clips while the button is held).
import { RECORD_FPS, grabFrame, holdToRecord, liveStream, webcamView } from "./camera.js";
import { h, toast } from "./dom.js";
import { drawSkeleton } from "./skeleton.js";
import { ClipCollector, openMicrophone, wavBlob } from "./sound.js";

// Each returns { element, stop() } or null when the device could not be opened.

// A recording's batches, uploaded one after another and reported once when it ends.
function recording(upload, source) {
  let stats = null;
  let chain = Promise.resolve();
  return {
    start() { stats = { total: 0, added: 0, copies: 0, nothing: 0, failed: [] }; },
    send(batch) {
      const mine = stats;
      if (batch.length) chain = chain.then(() => upload(batch, source, false, mine));
    },
    end() { const mine = stats; chain = chain.then(() => { if (mine && mine.total) upload.report(mine); }); },
  };
}

// Class names that say the class is for frames with nobody (no hand) in view.
const EMPTY_CLASS = /\b(nobody|no one|no hand|background|empty|nothing|none|idle)\b/i;

export async function webcamRecorder(state, info, upload, onFail) {
  const keypoints = state.kind.keypoints;
  const webcam = await webcamView(onFail, keypoints);
  if (!webcam) return null;
  const stops = [() => webcam.stop()];
  // Pose and hand projects: whether anyone (any hand) is in view, live, before and while recording.
  const nobody = state.kind.name === "hand" ? "No hand in view" : "No one in view";
  const hint = h("p", { class: "view-hint", role: "status", "aria-live": "polite" });
  if (keypoints) {
    hint.textContent = "Looking…";
    stops.push(liveStream(state, webcam.video, "landmarks", (reply) => {
      drawSkeleton(webcam.overlay, reply.landmarks, state.project.skeleton);
      const missing = Boolean(reply.nobody || reply.nothing_detected || (reply.error && !reply.landmarks));
      // In a class meant for empty frames ("background", "nobody", ...) that is what is wanted: said plainly.
      const meant = EMPTY_CLASS.test(info().name);
      hint.textContent = !missing ? "" : meant ? `${nobody}: right for this class; these frames are kept as "${nobody.toLowerCase()}" examples.`
        : `${nobody}: these frames are kept as "${nobody.toLowerCase()}" examples (right for a "nobody" or "background" class).`;
      hint.classList.toggle("warn", missing && !meant);
      hint.classList.toggle("meant", missing && meant);
    }));
  }
  const record = h("button", { class: "btn primary", "aria-label": `Hold to record samples for ${info().name}` }, "Hold to record");
  let timer = null;
  let pending = [];
  const take = recording(upload, "webcam");
  const flush = () => { const batch = pending; pending = []; take.send(batch); };
  holdToRecord(record, () => {
    let n = 0;
    take.start();
    timer = setInterval(async () => {
      const blob = await grabFrame(webcam.video);
      if (blob) pending.push(new File([blob], `frame-${n++}.jpg`, { type: "image/jpeg" }));
      if (pending.length >= RECORD_FPS) flush();
    }, 1000 / RECORD_FPS);
  }, () => {
    clearInterval(timer);
    timer = null;
    setTimeout(() => { flush(); take.end(); }, 250);
  });
  webcam.wrapper.append(...[record, keypoints ? hint : null,
    h("p", { class: "small muted" }, `Captures ${RECORD_FPS} frames a second while pressed (mouse, touch, Space or Enter).`)].filter(Boolean));
  return { element: webcam.wrapper, stop() { clearInterval(timer); stops.reverse().forEach((f) => f()); } };
}

export async function microphoneRecorder(info, upload, onFail) {
  const meter = h("meter", { min: "0", max: "1", value: "0", class: "level", "aria-label": "Sound level" });
  const spectrogram = h("canvas", { class: "spectrogram", width: "320", height: "96", "aria-label": "Live spectrogram" });
  const record = h("button", { class: "btn primary", "aria-label": `Hold to record sounds for ${info().name}` }, "Hold to record");
  let recordingNow = false;
  let pending = [];
  const take = recording(upload, "microphone");
  const flush = () => { const batch = pending; pending = []; take.send(batch); };
  const collector = new ClipCollector((clip) => {
    if (!recordingNow) return;
    pending.push(new File([wavBlob(clip)], `second-${Date.now()}.wav`, { type: "audio/wav" }));
    if (pending.length >= 2) flush();
  });
  let mic;
  try {
    mic = await openMicrophone({ onSamples: (s) => collector.push(s), meter, spectrogram });
  } catch (err) {
    toast(`The microphone could not be opened: ${err.message}. Allow microphone access and try again.`, "error");
    onFail();
    return null;
  }
  holdToRecord(record, () => {
    collector.filled = 0; // clips start when the button goes down
    take.start();
    recordingNow = true;
  }, () => {
    recordingNow = false;
    setTimeout(() => { flush(); take.end(); }, 100);
  });
  const element = h("div", { class: "webcam-panel" },
    h("label", { class: "small muted" }, "Level ", meter), spectrogram, record,
    h("p", { class: "small muted", text: "Every second recorded while the button is held becomes one sample." }));
  return { element, stop() { mic.close(); } };
}

// Files from a drop, folders included (read recursively).
export async function droppedFiles(transfer) {
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
