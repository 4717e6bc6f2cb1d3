// Pose and hand projects: the skeleton MediaPipe found, drawn over the webcam or a picture.

const LINE = "#00e676";
const JOINT = "#ff4081";
const VISIBLE = 0.3;

// Draws landmarks ({points: [[x, y, visibility], ...]}, x and y as fractions) on a canvas that
// covers exactly the picture they were found in. No landmarks: clears it.
export function drawSkeleton(canvas, landmarks, connections) {
  const rect = canvas.getBoundingClientRect();
  const width = Math.max(1, Math.round(rect.width)) || canvas.width;
  const height = Math.max(1, Math.round(rect.height)) || canvas.height;
  if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  canvas.dataset.points = "0";
  if (!landmarks || !landmarks.points) return;
  const at = landmarks.points.map(([x, y, v]) => (v >= VISIBLE ? [x * width, y * height] : null));
  ctx.lineWidth = Math.max(2, width / 100);
  ctx.strokeStyle = LINE;
  for (const [a, b] of connections || []) {
    if (!at[a] || !at[b]) continue;
    ctx.beginPath();
    ctx.moveTo(...at[a]);
    ctx.lineTo(...at[b]);
    ctx.stroke();
  }
  ctx.fillStyle = JOINT;
  for (const p of at) {
    if (!p) continue;
    ctx.beginPath();
    ctx.arc(p[0], p[1], ctx.lineWidth * 1.2, 0, 2 * Math.PI);
    ctx.fill();
  }
  canvas.dataset.points = String(at.filter(Boolean).length);
}

// A canvas laid over an element of the same box (the square webcam view, a preview picture).
export function overlayFor(element, label) {
  const canvas = document.createElement("canvas");
  canvas.className = "skeleton";
  canvas.setAttribute("aria-label", label);
  canvas.setAttribute("role", "img");
  const frame = document.createElement("div");
  frame.className = "overlay-frame";
  element.replaceWith(frame);
  frame.append(element, canvas);
  return canvas;
}
