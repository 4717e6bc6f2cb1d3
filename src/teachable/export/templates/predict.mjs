// Classify images with a Teachable model exported to ONNX, in Node.js.
//
//   npm install                      (installs onnxruntime-node and sharp, as package.json says)
//   node predict.mjs photo.jpg [more.jpg ...] [--json]
//
// Reads model.onnx and metadata.json from this folder. The preprocessing is Teachable's recipe,
// pixel for pixel: sharp decodes with the libraries Pillow uses (mozjpeg, libjpeg-turbo's fork,
// libpng, libwebp, GIF's first frame) after turning the photo upright by its EXIF orientation;
// transparent pixels go on white as Pillow's alpha_composite does; then the centre square,
// Pillow's bilinear resize, (x - mean) / std (image_recipe.mjs, shared with index.html). BMP files
// are read here (sharp has no BMP reader).
// One known difference: CMYK JPEGs (made for print) are converted to RGB by a different formula.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { centreSquare, onWhite } from "./image_recipe.mjs";

const USAGE = `usage: node predict.mjs IMAGE [IMAGE ...] [--json]

Classifies pictures with the Teachable model beside this script (model.onnx, metadata.json).
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
const { default: sharp } = await import("sharp");

const here = dirname(fileURLToPath(import.meta.url));
const meta = JSON.parse(readFileSync(join(here, "metadata.json"), "utf8"));
const { size, mean, std } = meta.input;
const MAX_PIXELS = 64_000_000; // as Teachable: larger pictures are refused before decoding

// Uncompressed BMP (24 or 32 bits per pixel, bottom-up or top-down) to RGBA.
function decodeBmp(bytes) {
  const offset = bytes.readUInt32LE(10);
  const width = bytes.readInt32LE(18);
  const rawHeight = bytes.readInt32LE(22);
  const bits = bytes.readUInt16LE(28);
  const compression = bytes.readUInt32LE(30);
  const height = Math.abs(rawHeight);
  if (![24, 32].includes(bits) || ![0, 3].includes(compression) || width <= 0 || width * height > MAX_PIXELS) {
    throw new Error(`unsupported BMP (${bits} bits per pixel, compression ${compression}): save it as PNG or JPEG`);
  }
  const stride = Math.ceil((width * bits) / 32) * 4;
  if (offset + stride * height > bytes.length) throw new Error("truncated BMP file");
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const row = offset + (rawHeight > 0 ? height - 1 - y : y) * stride;
    for (let x = 0; x < width; x++) {
      const p = row + (x * bits) / 8;
      const o = (y * width + x) * 4;
      data[o] = bytes[p + 2];
      data[o + 1] = bytes[p + 1];
      data[o + 2] = bytes[p];
      data[o + 3] = 255; // Pillow reads 32-bit BMPs as RGB
    }
  }
  return { width, height, data };
}

async function decode(path) {
  const bytes = readFileSync(path);
  if (bytes.length >= 30 && bytes[0] === 0x42 && bytes[1] === 0x4d) return decodeBmp(bytes);
  // ignoreIcc: Pillow (so Teachable) takes the stored values as they are, without colour management.
  const { data, info } = await sharp(bytes, { pages: 1, limitInputPixels: MAX_PIXELS, failOn: "error", ignoreIcc: true })
    .autoOrient().toColourspace("srgb").ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

function preprocess(image) {
  return new ort.Tensor("float32", centreSquare(image, size, mean, std), [1, 3, size, size]);
}

const session = await ort.InferenceSession.create(join(here, "model.onnx"));
let failed = 0;
for (const file of files) {
  let result;
  try {
    result = await session.run({ image: preprocess(onWhite(await decode(file))) });
  } catch (error) { // not an image, damaged, missing: say so and go on with the next file
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
