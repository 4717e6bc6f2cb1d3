// Export: downloads of the trained model, and code to copy that uses it.
import { api } from "./api.js";
import { attempt, download, h, toast, withCode } from "./dom.js";

function snippetsFor(state, base, file) {
  if (state.kind.audio) {
    return [
      ["Any language, over HTTP (while Teachable runs)", `curl -X POST ${base}/predict -F clip=@clip.wav`],
      ["Python (in the ONNX bundle)", "pip install onnxruntime numpy soundfile soxr\npython predict.py clip.wav\npython predict.py --listen recording.wav"],
      ["Command line, with Teachable installed", `teachable listen ${file} recording.wav\nteachable listen ${file}      # the microphone`],
    ];
  }
  return [
    ["Any language, over HTTP (while Teachable runs)", `curl -X POST ${base}/predict -F image=@photo.jpg`],
    ["Python (in the ONNX bundle)", "pip install onnxruntime pillow numpy\npython predict.py photo.jpg\npython predict.py --webcam      # needs opencv-python"],
    ["Node.js (in the ONNX bundle)", "npm install\nnode predict.mjs photo.jpg"],
    ["A web page on the webcam (in the ONNX bundle)", "python -m http.server 8080   # in the bundle folder\n# then open http://localhost:8080/index.html"],
    ["Python, with Teachable installed", `import teachable\nmodel = teachable.load("${file}")\nprint(model.predict("photo.jpg").label)`],
  ];
}

// Code that loads a published model as Teachable Machine's users already write it.
function publishedSnippets(url) {
  return [
    ["A web page (Teachable Machine's own snippet, @teachablemachine/image)",
      `<script src="https://cdn.jsdelivr.net/npm/@tensorflow/tfjs@1.3.1/dist/tf.min.js"></script>
<script src="https://cdn.jsdelivr.net/npm/@teachablemachine/image@0.8.5/dist/teachablemachine-image.min.js"></script>
<script>
  const URL = "${url}";
  (async () => {
    const model = await tmImage.load(URL + "model.json", URL + "metadata.json");
    const image = document.querySelector("img");  // or a webcam canvas
    console.log(await model.predict(image));       // [{className, probability}, ...]
  })();
</script>`],
    ["p5.js + ml5.js (the camera's centre square, not mirrored: what your samples were)", `let classifier, video, square, classifying = false;
function preload() {
  classifier = ml5.imageClassifier("${url}model.json");
}
function setup() {
  createCanvas(224, 224);
  video = createCapture(VIDEO);
  video.hide();
  square = document.createElement("canvas");
  square.width = square.height = 224;
}
function draw() {
  const w = video.elt.videoWidth, h = video.elt.videoHeight, side = min(w, h);
  if (!side) return;  // the camera is not ready yet
  square.getContext("2d").drawImage(video.elt, (w - side) / 2, (h - side) / 2, side, side, 0, 0, 224, 224);
  if (!classifying) classifier.classifyStart(square, (results) => console.log(results[0].label));
  classifying = true;
  drawingContext.drawImage(square, 0, 0);
}`],
    ["Node.js 18+ (npm install @tensorflow/tfjs; save as predict.mjs, run node predict.mjs)", `import * as tf from "@tensorflow/tfjs";

const model = await tf.loadLayersModel("${url}model.json");
const labels = (await (await fetch("${url}metadata.json")).json()).labels;
// x: [1, 224, 224, 3], the centre square of a photo with pixels scaled as x / 127 - 1
const x = tf.zeros([1, 224, 224, 3]);
const probabilities = await model.predict(x).data();
console.log(Object.fromEntries(labels.map((label, i) => [label, probabilities[i]])));`],
  ];
}

function snippetBlock([title, code]) {
  const pre = h("pre", { class: "snippet" }, h("code", { text: code }));
  const copy = h("button", { class: "btn small-btn", onclick: async () => {
    try { await navigator.clipboard.writeText(code); toast("Copied."); }
    catch (_) { toast("Select the text and copy it with Ctrl+C.", "error"); }
  } }, "Copy");
  return h("div", { class: "snippet-block" }, h("div", { class: "row between" }, h("strong", { class: "small", text: title }), copy), pre);
}

// TensorFlow Lite: a conversion on the server (seconds to minutes) whose steps the page follows,
// as `teachable export --format tflite` shows them, then the zip of both files.
function tfliteButton(state, busy) {
  const base = `/projects/${state.id}/models/current/tflite`;
  return busyButton("download-tflite", "Download TensorFlow Lite (.zip)", busy, async () => {
    busy.textContent = "Converting to TensorFlow Lite… (a minute or two)";
    let job = await attempt(() => api("POST", base));
    while (job && job.state === "running") {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      job = await attempt(() => api("GET", `${base}/${job.id}`));
      if (job && job.state === "running") {
        busy.textContent = `Converting to TensorFlow Lite: ${job.step}${job.total > 1 ? ` ${job.done} of ${job.total}` : ""}…`;
      }
    }
    if (job && job.state === "done") {
      await saveZip(`${base}/${job.id}/file`, `${state.id}-tflite.zip`,
        "TensorFlow Lite model downloaded (model_unquant.tflite and the quantised model.tflite).");
    } else if (job) toast(job.error || "The conversion failed.", "error");
  });
}

// A button for slow work: disabled while it runs (a double click starts it once), the busy note
// cleared after, and the focus back on it if it had it (a disabled button loses the focus).
function busyButton(id, label, busy, work) {
  const button = h("button", { class: "btn", id, onclick: async () => {
    const hadFocus = document.activeElement === button;
    button.disabled = true;
    try {
      await work();
    } finally {
      busy.textContent = "";
      button.disabled = false;
      if (hadFocus && (!document.activeElement || document.activeElement === document.body)) button.focus();
    }
  } }, label);
  return button;
}

// A zip made by the server, saved under ``filename``; says so with ``message``.
async function saveZip(path, filename, message) {
  const response = await attempt(() => api("GET", path, undefined, { raw: true }));
  if (!response) return;
  const url = URL.createObjectURL(await response.blob());
  download(url, filename);
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  toast(message);
}

// The publish switch: off by default; when on, the URL and the snippets that use it.
function publishSection(state) {
  const box = h("input", { type: "checkbox", id: "publish-switch" });
  const where = h("div", { id: "published-url" });
  const show = (answer) => {
    box.checked = answer.published;
    where.replaceChildren();
    if (!answer.published) return;
    const url = `${location.origin}${answer.path}`;
    where.append(
      h("p", { class: "small" }, "Your model's URL (it changes only if you switch publishing off and on): ",
        h("code", { id: "published-link", text: url })),
      h("p", { class: "small muted", text: "Anyone who can reach this computer and knows the URL can load the model (only the model: no samples, nothing else). Retraining updates it." }),
      h("p", { class: "small" }, h("a", { id: "open-sketch", href: `/sketch/?project=${encodeURIComponent(state.id)}`, target: "_blank",
        rel: "noopener", text: "Open the sketch editor" }),
        " — p5.js + ml5.js with this model, served by this computer: works across the classroom network and with no internet."),
      answer.classroom_link
        ? h("p", { class: "small" }, "Students open the editor with this model at ",
          h("code", { id: "classroom-link", text: answer.classroom_link }),
          " (no access token: they can run sketches with the published model, and reach no project).")
        : h("p", { class: "small muted" }, ...withCode("Students on other computers: start Teachable with `teachable serve --host 0.0.0.0 --https` (HTTPS lets their browsers use the camera), and their link appears here.")),
      h("p", { class: "small muted" }, ...withCode("A page on an internet site (the p5.js web editor, CodePen) that loads this URL makes the browser ask to allow access to devices on your local network: choose Allow. From another computer such pages need `teachable serve --https`, and each browser must trust Teachable's certificate authority once: the link `teachable serve` prints (`…/tls/authority.pem`).")),
      ...publishedSnippets(url).map(snippetBlock));
  };
  box.addEventListener("change", async () => {
    const answer = await attempt(() => api("PUT", `/projects/${state.id}/publish`, { published: box.checked }),
      box.checked ? "Model published." : "Publishing switched off.");
    if (answer) show(answer); else box.checked = !box.checked;
  });
  const element = h("div", { class: "publish" },
    h("label", { class: "row" }, box, h("span", { text: "Publish at a URL for Teachable Machine code (TensorFlow.js, ml5.js, p5.js, Node)" })),
    where);
  return { element, async refresh() { const answer = await api("GET", `/projects/${state.id}/publish`).catch(() => null); if (answer) show(answer); } };
}

export function exportCard(state) {
  const base = `${location.origin}/api/projects/${state.id}`;
  const file = `${state.id}.teachable`;
  const contains = h("p", { class: "small", id: "export-classes" });
  const busy = h("span", { class: "small muted", role: "status" });
  // A bundle takes seconds to make: say so, and allow one at a time.
  const bundleButton = (format, id, label, what) => busyButton(id, label, busy, async () => {
    busy.textContent = `Preparing the ${what}… (this takes a few seconds)`;
    await saveZip(`/projects/${state.id}/models/current/export?format=${format}`, `${state.id}-${format}.zip`,
      `${what[0].toUpperCase()}${what.slice(1)} downloaded.`);
  });
  const onnx = bundleButton("onnx", "download-onnx", "Download ONNX bundle (.zip)", "ONNX bundle");
  const close = h("button", { class: "btn", type: "button", "aria-label": "Close the export panel",
    onclick: () => { element.hidden = true; const opener = document.getElementById("export"); if (opener) { opener.setAttribute("aria-expanded", "false"); opener.focus(); } } }, "Close");
  const element = h("section", { class: "card export", id: "export-panel", "aria-label": "Export" },
    h("div", { class: "row between" }, h("h3", { text: "Export" }), close), contains,
    h("div", { class: "row" },
      h("button", { class: "btn primary", id: "download-teachable",
        onclick: () => download(`${base}/models/current/download`, file) }, "Download .teachable"),
      onnx, busy),
    h("p", { class: "small muted", text: state.kind.audio
      ? "The ONNX bundle holds the classifier (model.onnx), Google's speech_embedding and YAMNet front ends, the exact recipe, and predict.py."
      : "The ONNX bundle holds model.onnx (the whole model: photo in, probabilities out), its labels and input recipe, and ready-to-run examples." }),
    h("div", { class: "snippets" }, ...snippetsFor(state, base, file).map(snippetBlock)));
  if ((state.kind.exports || []).includes("tflite")) onnx.after(tfliteButton(state, busy));
  if ((state.kind.exports || []).includes("tfjs")) {
    const publishing = publishSection(state);
    const tfjs = bundleButton("tfjs", "download-tfjs", "Download TensorFlow.js (.zip)", "TensorFlow.js model");
    const keras = bundleButton("keras", "download-keras", "Download Keras (.zip)", "Keras model");
    onnx.after(tfjs, keras);
    element.append(h("h4", { text: "Teachable Machine code" }),
      h("p", { class: "small muted", text: "The TensorFlow.js download has Teachable Machine's three files (model.json, weights.bin, metadata.json), the Keras download its keras_model.h5 and labels.txt (Keras 2 and 3): code written for Teachable Machine loads them unchanged. Both need the Trained head classifier." }),
      publishing.element);
    publishing.refresh();
  }
  return {
    element,
    update() {
      const status = state.project.model_status;
      const labels = status && status.labels;
      contains.textContent = labels ? `The exported model knows ${labels.length} classes: ${labels.join(", ")}.` +
        (status.stale ? " Your classes have changed since: train again to export them." : "") : "";
    },
  };
}
