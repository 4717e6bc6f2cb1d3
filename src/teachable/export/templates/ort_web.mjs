// Loads onnxruntime-web for this folder's web page: the copy beside the page if there is one
// (works offline), else the jsDelivr CDN; says exactly what to copy when neither can be had.
const VERSION = "1.30.0";
const CDN = `https://cdn.jsdelivr.net/npm/onnxruntime-web@${VERSION}/dist/`;
const OFFLINE = "ONNX Runtime Web is not beside this page and its CDN cannot be reached. To run offline, copy " +
  `ort.wasm.min.js, ort-wasm-simd-threaded.mjs and ort-wasm-simd-threaded.wasm from the onnxruntime-web@${VERSION} ` +
  `npm package's dist/ folder (npm pack onnxruntime-web@${VERSION}) into this folder (see README.md).`;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src; s.onload = () => resolve(src); s.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(s);
  });
}

export async function loadOrt() {
  let base = "./";
  try { await loadScript("./ort.wasm.min.js"); } catch (_) {
    base = CDN;
    try { await loadScript(CDN + "ort.wasm.min.js"); } catch (_) { throw new Error(OFFLINE); }
  }
  const ort = globalThis.ort;
  ort.env.wasm.wasmPaths = base;
  ort.env.wasm.numThreads = 1;
  return ort;
}
