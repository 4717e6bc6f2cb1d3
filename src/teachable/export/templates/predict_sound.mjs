// Classify sounds with a Teachable sound model exported to ONNX, in Node.js.
//
//   npm install                                  (installs onnxruntime-node, as package.json says)
//   node predict.mjs clip.wav [more.wav ...] [--json]
//
// Reads model.onnx, melspectrogram.onnx, embedding_model.onnx and metadata.json from this
// folder. WAV files (PCM 8/16/24/32-bit or float); stereo is averaged to mono. Recordings at
// 16 kHz are read exactly as Teachable reads them; other rates are resampled here by linear
// interpolation, close to (not the same as) Teachable's resampler: record at 16 kHz when you can.
// The recipe itself is in sound_recipe.mjs, which index.html runs in a browser with onnxruntime-web.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { classify, loadModels, resample } from "./sound_recipe.mjs";

const USAGE = `usage: node predict.mjs CLIP.wav [CLIP.wav ...] [--json]

Classifies sounds with the Teachable model beside this script (model.onnx, melspectrogram.onnx,
embedding_model.onnx, metadata.json): the first second of each WAV file.
  --json      one JSON object per file: {"file", "label", "confidence", "confidences"}
  -h, --help  show this help
A file that cannot be read is named on stderr (with --json, as {"file", "error"}); the exit code is
then 1. Run \`npm install\` here first.`;
const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(USAGE);
  process.exit(0);
}
const unknown = args.find((a) => a.startsWith("-") && a !== "--json");
if (unknown) {
  console.error(`unknown option ${unknown}\n\n${USAGE}`);
  process.exit(2);
}
const asJson = args.includes("--json");
const files = args.filter((a) => a !== "--json");
if (!files.length) {
  console.error(USAGE);
  process.exit(2);
}
// Loaded after the arguments are read, so --help works before `npm install` too.
const ort = await import("onnxruntime-node");

const here = dirname(fileURLToPath(import.meta.url));
const meta = JSON.parse(readFileSync(join(here, "metadata.json"), "utf8"));
const RATE = meta.input.sample_rate;

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

const models = await loadModels(ort, here, { executionProviders: ["cpu"] }, meta.input);

let failed = 0;
for (const file of files) {
  let probabilities, label;
  try {
    const { samples, rate } = readWav(readFileSync(file));
    ({ probabilities, label } = await classify(ort, models, meta, resample(samples, rate, RATE)));
  } catch (error) { // not a WAV file, damaged, missing: say so and go on with the next file
    failed += 1;
    if (asJson) console.log(JSON.stringify({ file, error: error.message }));
    else console.error(`${file}: error: ${error.message}`);
    continue;
  }
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
