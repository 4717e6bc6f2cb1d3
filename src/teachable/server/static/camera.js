// The webcam: one stream shared by every card that shows it, frames grabbed as JPEG squares,
// the live socket that streams them, and the hold-to-record button.
import { liveSocketURL } from "./api.js";
import { h, toast } from "./dom.js";
import { overlayFor } from "./skeleton.js";

export const CAPTURE_SIZE = 224;
export const RECORD_FPS = 5;
const PREVIEW_FPS = 15;

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
export function grabFrame(video, size = CAPTURE_SIZE, quality = 0.85) {
  const canvas = grabFrame.canvas || (grabFrame.canvas = document.createElement("canvas"));
  canvas.width = size;
  canvas.height = size;
  const side = Math.min(video.videoWidth, video.videoHeight);
  if (!side) return Promise.resolve(null);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side, side, 0, 0, size, size);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
}

export async function webcamView(onStop, skeleton = false) {
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
export function liveStream(state, video, mode, onReply, explain = false) {
  let socket = null;
  let closed = false;
  const connect = () => {
    socket = new WebSocket(liveSocketURL(state.id, mode, explain));
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

// A button that records while held down: mouse, touch, Space or Enter. The pointer is captured,
// so the page growing with new samples under the finger does not end the recording.
export function holdToRecord(button, onStart, onStop) {
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
