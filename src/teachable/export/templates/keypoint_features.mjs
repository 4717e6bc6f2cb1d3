// Teachable's keypoint recipe (keypoint_features.py, embed/keypoints.py) in JavaScript, for the page:
// MediaPipe's landmarks in, the numbers the classifier was trained on out. Keep the two in step.
export const POSE_POINTS = 33;
export const HAND_POINTS = 21;
const LEFT_HIP = 23, RIGHT_HIP = 24, LEFT_SHOULDER = 11, RIGHT_SHOULDER = 12, WRIST = 0, MIDDLE_KNUCKLE = 9;

// A frame with nobody (no hand) in view: every point at the centre, the presence numbers set to what
// no detection gives (visibilities -1; handedness 2).
export function nobodyFeatures(kind) {
  if (kind === "pose") return Float32Array.from({ length: POSE_POINTS * 3 }, (_, i) => (i < POSE_POINTS * 2 ? 0 : -1));
  const out = new Float32Array(HAND_POINTS * 3 + 1);
  out[HAND_POINTS * 3] = 2;
  return out;
}

// points: [{x, y, z, visibility}] as MediaPipe gives them (fractions of width and height).
export function poseFeatures(points, width, height) {
  if (points.length !== POSE_POINTS) throw new Error(`pose landmarks must be ${POSE_POINTS}, not ${points.length}`);
  const xy = points.map((p) => [p.x * width, p.y * height]);
  const hips = [(xy[LEFT_HIP][0] + xy[RIGHT_HIP][0]) / 2, (xy[LEFT_HIP][1] + xy[RIGHT_HIP][1]) / 2];
  const shoulders = [(xy[LEFT_SHOULDER][0] + xy[RIGHT_SHOULDER][0]) / 2, (xy[LEFT_SHOULDER][1] + xy[RIGHT_SHOULDER][1]) / 2];
  const torso = Math.hypot(shoulders[0] - hips[0], shoulders[1] - hips[1]);
  if (!Number.isFinite(torso) || torso < 1e-6) return null; // too small to measure: as good as nobody
  const out = new Float32Array(POSE_POINTS * 3);
  points.forEach((p, i) => {
    const visibility = Math.min(1, Math.max(0, p.visibility ?? 0));
    out[2 * i] = ((xy[i][0] - hips[0]) / torso) * visibility;
    out[2 * i + 1] = ((xy[i][1] - hips[1]) / torso) * visibility;
    out[POSE_POINTS * 2 + i] = visibility;
  });
  return out;
}

export function handFeatures(points, width, height, rightHand) {
  if (points.length !== HAND_POINTS) throw new Error(`hand landmarks must be ${HAND_POINTS}, not ${points.length}`);
  const xyz = points.map((p) => [p.x * width, p.y * height, p.z * width]);
  const size = Math.hypot(xyz[MIDDLE_KNUCKLE][0] - xyz[WRIST][0], xyz[MIDDLE_KNUCKLE][1] - xyz[WRIST][1]);
  if (!Number.isFinite(size) || size < 1e-6) return null;
  const out = new Float32Array(HAND_POINTS * 3 + 1);
  xyz.forEach((p, i) => { for (let k = 0; k < 3; k++) out[3 * i + k] = (p[k] - xyz[WRIST][k]) / size; });
  out[HAND_POINTS * 3] = rightHand ? 1 : -1;
  return out;
}
