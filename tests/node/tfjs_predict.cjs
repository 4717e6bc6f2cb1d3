// Loads a TensorFlow.js layers model with a given tfjs package (1.3.1 or 4.x) and predicts on raw
// NHWC float32 inputs, as Teachable Machine users' Node code does. Usage:
//   node tfjs_predict.cjs PACKAGE (DIR | URL) INPUTS.f32 COUNT SIZE [--features LAYER]
// Prints {"probabilities": [[...], ...], "tfjs": version} as JSON.
const fs = require("fs");
const path = require("path");

async function main() {
  const [pkg, source, inputs, count, size] = process.argv.slice(2);
  const tf = require(pkg);
  let model;
  if (/^https?:/.test(source)) {
    model = await tf.loadLayersModel(source);
  } else {
    // No tfjs-node: read the files ourselves, as an IOHandler (the documented way to load from disk).
    const json = JSON.parse(fs.readFileSync(path.join(source, "model.json"), "utf8"));
    const specs = [].concat(...json.weightsManifest.map((g) => g.weights));
    const buffers = [].concat(...json.weightsManifest.map((g) => g.paths.map((p) => fs.readFileSync(path.join(source, p)))));
    const all = Buffer.concat(buffers);
    const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
    model = await tf.loadLayersModel({ load: async () => ({ modelTopology: json.modelTopology, weightSpecs: specs, weightData }) });
  }
  const n = Number(count), s = Number(size);
  const raw = fs.readFileSync(inputs);
  const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const x = tf.tensor4d(data, [n, s, s, 3]);
  const y = model.predict(x);
  const probabilities = await y.array();
  process.stdout.write(JSON.stringify({ probabilities, tfjs: tf.version_core || tf.version["tfjs-core"], outputShape: model.outputs[0].shape }));
}

main().catch((err) => { console.error(String(err && err.stack || err)); process.exit(1); });
