// Teachable's sound recipe in JavaScript, shared by predict.mjs (Node.js, onnxruntime-node) and
// index.html (a browser, onnxruntime-web): one second of 16 kHz mono sound -> 96 numbers ->
// class probabilities. `ort` is whichever ONNX Runtime the caller loaded.

// Linear-interpolation resampling to `to` Hz (Teachable uses soxr: close, not identical).
export function resample(samples, from, to) {
  if (from === to) return samples;
  const out = new Float32Array(Math.round((samples.length * to) / from));
  for (let i = 0; i < out.length; i++) {
    const x = (i * from) / to;
    const j = Math.floor(x);
    const t = x - j;
    out[i] = (samples[j] ?? 0) * (1 - t) + (samples[j + 1] ?? samples[j] ?? 0) * t;
  }
  return out;
}

// The three ONNX files of the bundle; `base` is their folder (a path in Node.js, a URL in a page).
export async function loadModels(ort, base, options = {}) {
  const [mel, embedding, classifier] = await Promise.all(["melspectrogram.onnx", "embedding_model.onnx", "model.onnx"]
    .map((name) => ort.InferenceSession.create(`${base}/${name}`, options)));
  return { mel, embedding, classifier };
}

// README.md, "The recipe": pad, mel spectrogram, windows, embedding model, mean over windows.
export async function embed(ort, models, recipe, clip) {
  const rate = recipe.sample_rate;
  const pad = Math.round(recipe.pad_seconds_each_side * rate);
  const padded = new Float32Array(pad + rate + pad);
  for (let i = 0; i < Math.min(clip.length, rate); i++) padded[pad + i] = clip[i] * 32767;
  const mel = Object.values(await models.mel.run({ input: new ort.Tensor("float32", padded, [1, padded.length]) }))[0];
  const bands = mel.dims[mel.dims.length - 1];
  const frames = mel.data.length / bands;
  const { frames: width, step } = recipe.windows;
  const starts = [];
  for (let s = 0; s + width <= frames; s += step) starts.push(s);
  const windows = new Float32Array(starts.length * width * bands);
  starts.forEach((s, w) => {
    for (let i = 0; i < width * bands; i++) windows[w * width * bands + i] = mel.data[s * bands + i] / 10 + 2;
  });
  const input = new ort.Tensor("float32", windows, [starts.length, width, bands, 1]);
  const vectors = Object.values(await models.embedding.run({ input_1: input }))[0].data;
  const size = vectors.length / starts.length;
  const mean = new Float32Array(size);
  for (let w = 0; w < starts.length; w++) for (let i = 0; i < size; i++) mean[i] += vectors[w * size + i] / starts.length;
  return mean;
}

// Probabilities (in label order) and the model's own label for one clip.
export async function classify(ort, models, meta, clip) {
  const embedding = await embed(ort, models, meta.input, clip);
  const out = await models.classifier.run({ embedding: new ort.Tensor("float32", embedding, [1, embedding.length]) });
  return { probabilities: Array.from(out.probabilities.data), label: meta.labels[Number(out.label.data[0])] };
}
