// Classify an image with a Teachable model exported to ONNX, in Node.js.
//
//   npm install onnxruntime-node jpeg-js pngjs
//   node predict.mjs photo.jpg [more.jpg ...]
//
// Reads model.onnx and metadata.json from this folder. The preprocessing below is Teachable's
// recipe: centre square, bilinear resize (Pillow's filter, with antialiasing), (x - mean) / std.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";

const here = dirname(fileURLToPath(import.meta.url));
const meta = JSON.parse(readFileSync(join(here, "metadata.json"), "utf8"));
const { size, mean, std } = meta.input;

function decode(path) {
  const bytes = readFileSync(path);
  if (bytes[0] === 0x89 && bytes[1] === 0x50) {
    const png = PNG.sync.read(bytes);
    return { width: png.width, height: png.height, data: png.data };
  }
  return jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
}

// Pillow's bilinear resampling (a triangle filter widened when shrinking), one axis at a time.
function weights(inSize, outSize, offset, span) {
  const scale = span / outSize;
  const support = Math.max(scale, 1);
  const table = [];
  for (let i = 0; i < outSize; i++) {
    const centre = offset + (i + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(inSize, Math.ceil(centre + support));
    const w = [];
    let total = 0;
    for (let x = lo; x < hi; x++) {
      const v = Math.max(0, 1 - Math.abs((x - centre + 0.5) / support));
      w.push(v);
      total += v;
    }
    table.push({ lo, w: w.map((v) => v / total) });
  }
  return table;
}

function preprocess(image) {
  const side = Math.min(image.width, image.height);
  const left = Math.floor((image.width - side) / 2);
  const top = Math.floor((image.height - side) / 2);
  const wx = weights(image.width, size, left, side);
  const wy = weights(image.height, size, top, side);
  const rows = new Float32Array(image.height * size * 3); // horizontal pass
  for (let y = 0; y < image.height; y++) {
    for (let i = 0; i < size; i++) {
      const { lo, w } = wx[i];
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (let k = 0; k < w.length; k++) v += w[k] * image.data[(y * image.width + lo + k) * 4 + c];
        rows[(y * size + i) * 3 + c] = Math.min(255, Math.max(0, Math.round(v)));
      }
    }
  }
  const out = new Float32Array(3 * size * size); // vertical pass, NCHW, scaled
  for (let j = 0; j < size; j++) {
    const { lo, w } = wy[j];
    for (let i = 0; i < size; i++) {
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (let k = 0; k < w.length; k++) v += w[k] * rows[((lo + k) * size + i) * 3 + c];
        out[c * size * size + j * size + i] = (Math.min(255, Math.max(0, Math.round(v))) - mean) / std;
      }
    }
  }
  return new ort.Tensor("float32", out, [1, 3, size, size]);
}

const session = await ort.InferenceSession.create(join(here, "model.onnx"));
const files = process.argv.slice(2);
if (!files.length) {
  console.error("usage: node predict.mjs IMAGE [IMAGE ...]");
  process.exit(2);
}
for (const file of files) {
  const result = await session.run({ image: preprocess(decode(file)) });
  const probabilities = Array.from(result.probabilities.data);
  const label = meta.labels[Number(result.label.data[0])];
  const scores = meta.labels.map((name, i) => [name, probabilities[i]]).sort((a, b) => b[1] - a[1])
    .map(([name, p]) => `${name} ${(p * 100).toFixed(1)}%`).join("  ");
  console.log(`${file}: ${label}   [${scores}]`);
}
