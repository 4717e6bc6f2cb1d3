// Recording samples into a class: the webcam (frames while the button is held) and the
// microphone (one-second clips while the button is held).
import { RECORD_FPS, grabFrame, holdToRecord, liveStream, webcamView } from "./camera.js";
import { h, toast } from "./dom.js";
import { drawSkeleton } from "./skeleton.js";
import { ClipCollector, openMicrophone, wavBlob } from "./sound.js";

// Each returns { element, stop() } or null when the device could not be opened.

export async function webcamRecorder(state, info, upload, onFail) {
  const keypoints = state.kind.keypoints;
  const webcam = await webcamView(onFail, keypoints);
  if (!webcam) return null;
  const stops = [() => webcam.stop()];
  if (keypoints) {
    stops.push(liveStream(state, webcam.video, "landmarks", (reply) => drawSkeleton(webcam.overlay, reply.landmarks, state.project.skeleton)));
  }
  const record = h("button", { class: "btn primary", "aria-label": `Hold to record samples for ${info().name}` }, "Hold to record");
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
  return { element: webcam.wrapper, stop() { clearInterval(timer); stops.reverse().forEach((f) => f()); } };
}

export async function microphoneRecorder(info, upload, onFail) {
  const meter = h("meter", { min: "0", max: "1", value: "0", class: "level", "aria-label": "Sound level" });
  const spectrogram = h("canvas", { class: "spectrogram", width: "320", height: "96", "aria-label": "Live spectrogram" });
  const record = h("button", { class: "btn primary", "aria-label": `Hold to record sounds for ${info().name}` }, "Hold to record");
  let recording = false;
  let pending = [];
  const flush = async () => { const batch = pending; pending = []; if (batch.length) await upload(batch, "microphone"); };
  const collector = new ClipCollector((clip) => {
    if (!recording) return;
    pending.push(new File([wavBlob(clip)], `mic-${Date.now()}.wav`, { type: "audio/wav" }));
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
    recording = true;
  }, () => {
    recording = false;
    setTimeout(flush, 100);
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
