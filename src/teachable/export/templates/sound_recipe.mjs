// Teachable's sound recipe in JavaScript, shared by predict.mjs (Node.js, onnxruntime-node) and
// index.html (a browser, onnxruntime-web): one second of 16 kHz mono sound -> 96 numbers
// (speech_embedding) and, for models that use it, 1024 more (YAMNet) -> class probabilities.
// `ort` is whichever ONNX Runtime the caller loaded.

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

// The ONNX files of the bundle; `base` is their folder (a path in Node.js, a URL in a page).
// `recipe` (metadata.json's "input") says whether YAMNet is one of them.
export async function loadModels(ort, base, options = {}, recipe = {}) {
  const names = ["melspectrogram.onnx", "embedding_model.onnx", "model.onnx"];
  if (recipe.yamnet) names.push("yamnet_embedding.onnx");
  const [mel, embedding, classifier, yamnet] = await Promise.all(
    names.map((name) => ort.InferenceSession.create(`${base}/${name}`, options)));
  return { mel, embedding, classifier, yamnet };
}

// YAMNet's front end (yamnet_features.py, line for line, in float64 as JavaScript numbers are):
// 25 ms periodic Hann windows every 10 ms, |FFT 512|, TensorFlow's mel matrix (HTK mel, 64 bands,
// 125-7500 Hz, DC bin left out), log(mel + 0.001), first 96 frames.
function linspace(start, stop, n) {
  const step = (stop - start) / (n - 1);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = i * step + start;
  out[n - 1] = stop;
  return out;
}

const melCache = new Map();
function melMatrix(y) {
  const key = JSON.stringify(y);
  if (melCache.has(key)) return melCache.get(key);
  const bins = y.fft / 2 + 1;
  const toMel = (hz) => 1127.0 * Math.log1p(hz / 700.0);
  const freqs = linspace(0, 16000 / 2, bins);
  const edges = linspace(toMel(y.low_hz), toMel(y.high_hz), y.bands + 2);
  const matrix = new Float64Array(bins * y.bands); // row 0 (DC) stays zero
  for (let f = 1; f < bins; f++) {
    const mel = toMel(freqs[f]);
    for (let b = 0; b < y.bands; b++) {
      const rising = (mel - edges[b]) / (edges[b + 1] - edges[b]);
      const falling = (edges[b + 2] - mel) / (edges[b + 2] - edges[b + 1]);
      matrix[f * y.bands + b] = Math.max(0, Math.min(rising, falling));
    }
  }
  melCache.set(key, matrix);
  return matrix;
}

// In-place radix-2 FFT of (re, im), length a power of two.
function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  for (let size = 2; size <= n; size <<= 1) {
    const angle = (-2 * Math.PI) / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < size / 2; k++) {
        const wr = Math.cos(angle * k), wi = Math.sin(angle * k);
        const a = start + k, b = a + size / 2;
        const tr = re[b] * wr - im[b] * wi, ti = re[b] * wi + im[b] * wr;
        re[b] = re[a] - tr; im[b] = im[a] - ti;
        re[a] += tr; im[a] += ti;
      }
    }
  }
}

export function yamnetPatch(y, clip) {
  const second = new Float64Array(16000);
  for (let i = 0; i < Math.min(clip.length, second.length); i++) second[i] = clip[i];
  const mel = melMatrix(y);
  const bins = y.fft / 2 + 1;
  const out = new Float32Array(y.patch_frames * y.bands);
  const re = new Float64Array(y.fft), im = new Float64Array(y.fft), magnitude = new Float64Array(bins);
  for (let t = 0; t < y.patch_frames; t++) {
    re.fill(0);
    im.fill(0);
    for (let i = 0; i < y.window; i++) {
      re[i] = second[t * y.hop + i] * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / y.window));
    }
    fft(re, im);
    for (let f = 0; f < bins; f++) magnitude[f] = Math.hypot(re[f], im[f]);
    for (let b = 0; b < y.bands; b++) {
      let sum = 0;
      for (let f = 1; f < bins; f++) sum += magnitude[f] * mel[f * y.bands + b];
      out[t * y.bands + b] = Math.log(sum + y.log_offset);
    }
  }
  return out;
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
  if (!recipe.yamnet) return mean;
  const y = recipe.yamnet;
  const patch = new ort.Tensor("float32", yamnetPatch(y, clip), [1, 1, y.patch_frames, y.bands]);
  const general = (await models.yamnet.run({ patch })).embedding.data;
  const both = new Float32Array(mean.length + general.length);
  both.set(mean);
  both.set(general, mean.length);
  return both;
}

// Probabilities (in label order) and the model's own label for one clip.
export async function classify(ort, models, meta, clip) {
  const embedding = await embed(ort, models, meta.input, clip);
  const out = await models.classifier.run({ embedding: new ort.Tensor("float32", embedding, [1, embedding.length]) });
  return { probabilities: Array.from(out.probabilities.data), label: meta.labels[Number(out.label.data[0])] };
}
