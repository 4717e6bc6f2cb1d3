// Classify sounds with a Teachable sound model exported to ONNX, in Node.js.
//
//   npm install                                  (installs onnxruntime-node, as package.json says)
//   node predict.mjs clip.wav [more.wav ...] [--json]
//
// Reads model.onnx, melspectrogram.onnx, embedding_model.onnx and metadata.json from this
// folder. WAV files (PCM 8/16/24/32-bit or float); stereo is averaged to mono. Recordings at
// 16 kHz are read exactly as Teachable reads them; other rates are resampled here by linear
// interpolation, close to (not the same as) Teachable's resampler: record at 16 kHz when you can.
// The same code runs in a web page with onnxruntime-web (see index.html).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";

const here = dirname(fileURLToPath(import.meta.url));
const meta = JSON.parse(readFileSync(join(here, "metadata.json"), "utf8"));
const recipe = meta.input;
const RATE = recipe.sample_rate;

// A WAV file as mono float samples in [-1, 1], and its sample rate.
function readWav(bytes) {
  if (bytes.toString("ascii", 0, 4) !== "RIFF" || bytes.toString("ascii", 8, 12) !== "WAVE") {
    throw new Error("not a WAV file");
  }
  let format, channels, rate, bits, data;
  for (let at = 12; at + 8 <= bytes.length;) {
    const id = bytes.toString("ascii", at, at + 4);
    const size = bytes.readUInt32LE(at + 4);
    if (id === "fmt ") {
      format = bytes.readUInt16LE(at + 8);
      channels = bytes.readUInt16LE(at + 10);
      rate = bytes.readUInt32LE(at + 12);
      bits = bytes.readUInt16LE(at + 22);
      if (format === 0xfffe) format = bytes.readUInt16LE(at + 32); // WAVE_FORMAT_EXTENSIBLE
    } else if (id === "data") {
      data = bytes.subarray(at + 8, Math.min(bytes.length, at + 8 + size));
    }
    at += 8 + size + (size % 2);
  }
  if (!format || !data) throw new Error("WAV file without a format or data chunk");
  const width = bits / 8;
  const frames = Math.floor(data.length / (width * channels));
  const read = {
    "1:8": (o) => (data[o] - 128) / 128,
    "1:16": (o) => data.readInt16LE(o) / 32768,
    "1:24": (o) => data.readIntLE(o, 3) / 8388608,
    "1:32": (o) => data.readInt32LE(o) / 2147483648,
    "3:32": (o) => data.readFloatLE(o),
    "3:64": (o) => data.readDoubleLE(o),
  }[`${format}:${bits}`];
  if (!read) throw new Error(`unsupported WAV encoding (format ${format}, ${bits} bits): use 16-bit PCM`);
  const mono = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += read((i * channels + c) * width);
    mono[i] = sum / channels;
  }
  return { samples: mono, rate };
}

function resample(samples, from) {
  if (from === RATE) return samples;
  const out = new Float32Array(Math.round((samples.length * RATE) / from));
  for (let i = 0; i < out.length; i++) {
    const x = (i * from) / RATE;
    const j = Math.floor(x);
    const t = x - j;
    out[i] = (samples[j] ?? 0) * (1 - t) + (samples[j + 1] ?? samples[j] ?? 0) * t;
  }
  return out;
}

const options = { executionProviders: ["cpu"] };
const melModel = await ort.InferenceSession.create(join(here, "melspectrogram.onnx"), options);
const embeddingModel = await ort.InferenceSession.create(join(here, "embedding_model.onnx"), options);
const classifier = await ort.InferenceSession.create(join(here, "model.onnx"), options);

// Teachable's recipe for one second of sound -> 96 numbers (README.md, "The recipe").
async function embed(clip) {
  const pad = Math.round(recipe.pad_seconds_each_side * RATE);
  const padded = new Float32Array(pad + RATE + pad);
  for (let i = 0; i < Math.min(clip.length, RATE); i++) padded[pad + i] = clip[i] * 32767;
  const melOut = await melModel.run({ input: new ort.Tensor("float32", padded, [1, padded.length]) });
  const mel = Object.values(melOut)[0];
  const bands = mel.dims[mel.dims.length - 1];
  const frames = mel.data.length / bands;
  const { frames: width, step } = recipe.windows;
  const starts = [];
  for (let s = 0; s + width <= frames; s += step) starts.push(s);
  const windows = new Float32Array(starts.length * width * bands);
  starts.forEach((s, w) => {
    for (let i = 0; i < width * bands; i++) windows[w * width * bands + i] = mel.data[s * bands + i] / 10 + 2;
  });
  const out = await embeddingModel.run({ input_1: new ort.Tensor("float32", windows, [starts.length, width, bands, 1]) });
  const vectors = Object.values(out)[0].data;
  const size = vectors.length / starts.length;
  const mean = new Float32Array(size);
  for (let w = 0; w < starts.length; w++) for (let i = 0; i < size; i++) mean[i] += vectors[w * size + i] / starts.length;
  return mean;
}

const args = process.argv.slice(2);
const asJson = args.includes("--json");
const files = args.filter((a) => a !== "--json");
if (!files.length) {
  console.error("usage: node predict.mjs CLIP.wav [CLIP.wav ...] [--json]");
  process.exit(2);
}
let failed = 0;
for (const file of files) {
  let result;
  try {
    const { samples, rate } = readWav(readFileSync(file));
    const embedding = await embed(resample(samples, rate));
    result = await classifier.run({ embedding: new ort.Tensor("float32", embedding, [1, embedding.length]) });
  } catch (error) { // not a WAV file, damaged, missing: say so and go on with the next file
    failed += 1;
    if (asJson) console.log(JSON.stringify({ file, error: error.message }));
    else console.error(`${file}: error: ${error.message}`);
    continue;
  }
  const probabilities = Array.from(result.probabilities.data);
  const label = meta.labels[Number(result.label.data[0])];
  if (asJson) {
    const confidences = Object.fromEntries(meta.labels.map((name, i) => [name, probabilities[i]]));
    console.log(JSON.stringify({ file, label, confidence: confidences[label], confidences }));
    continue;
  }
  const scores = meta.labels.map((name, i) => [name, probabilities[i]]).sort((a, b) => b[1] - a[1])
    .map(([name, p]) => `${name} ${(p * 100).toFixed(1)}%`).join("  ");
  console.log(`${file}: ${label}   [${scores}]`);
}
process.exit(failed ? 1 : 0);
