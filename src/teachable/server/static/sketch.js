// The sketch page: an editor (CodeMirror, served by Teachable), a Run button and a preview frame.
// The code runs in /sketch/frame on the server's second port, another origin (server/routes/
// sketches.py); this page only hands it the code and shows what it prints. Sketches are kept in localStorage, per project.

import { api } from "./api.js";
import { h, toast } from "./dom.js";

const $ = (id) => document.getElementById(id);
const storageKey = (projectId) => `teachable.sketch.${projectId}`;

// Teachable Machine's p5.js snippet ("Export → Tensorflow.js → p5.js"), in ml5.js 1.x's words
// (classifyStart instead of classify/gotResult(error, results)), pointing at the published model,
// and shown the pictures the model learnt from: the camera's centre square, not mirrored (the app
// mirrors only what it shows), where ml5 would squash the whole 4:3 frame and a flipped capture
// would mirror it.
export function exampleSketch(url) {
  return `// Teachable Machine's p5.js + ml5.js snippet, with your published model.
let classifier;
// Model URL
let imageModelURL = "${url}";
// Video
let video;
// What the model looks at: the centre square of the camera, as Teachable captured your samples
let square;
// To store the classification (until the first answer: what it is waiting for)
let label = "starting the camera…";
let classifying = false;

// Load the model first
function preload() {
  classifier = ml5.imageClassifier(imageModelURL + "model.json");
}

function setup() {
  createCanvas(320, 260);
  // Create the video (not flipped: your samples were not)
  video = createCapture(VIDEO);
  video.size(320, 240);
  video.hide();
  square = document.createElement("canvas");
  square.width = square.height = 224;
}

function draw() {
  // The centre square of the camera's own picture, 224 x 224
  const w = video.elt.videoWidth, h = video.elt.videoHeight, side = min(w, h);
  if (side) {
    square.getContext("2d").drawImage(video.elt, (w - side) / 2, (h - side) / 2, side, side, 0, 0, 224, 224);
    // Start classifying once the camera shows something
    if (!classifying) {
      classifier.classifyStart(square, gotResult);
      label = "thinking… (the first answer takes a few seconds)";
    }
    classifying = true;
  }
  background(0);
  // Draw the video like a mirror (only on screen)
  push();
  translate(width, 0);
  scale(-1, 1);
  image(video, 0, 0);
  pop();
  // Draw the label
  fill(255);
  textSize(16);
  textAlign(CENTER);
  text(label, width / 2, height - 4);
}

// When we get a result
function gotResult(results) {
  if (results[0].label !== label) console.log(results[0].label);
  label = results[0].label;
}
`;
}

function librariesFor(code) {
  // The same choice as the server's download (routes/sketches.py libraries_for).
  const names = ["p5.min.js"];
  if (code.includes("ml5.")) names.push("ml5.min.js");
  else if (code.includes("tmImage.") || code.includes("tf.")) {
    names.push("tf.min.js");
    if (code.includes("tmImage.")) names.push("teachablemachine-image.min.js");
  }
  return names;
}

function makeEditor(host, onChange) {
  if (window.CodeMirror) {
    const editor = window.CodeMirror(host, { mode: "javascript", lineNumbers: true, tabSize: 2, indentUnit: 2,
      viewportMargin: Infinity });
    editor.on("change", () => onChange());
    editor.getWrapperElement().setAttribute("aria-label", "Sketch code");
    return { get: () => editor.getValue(), set: (text) => editor.setValue(text) };
  }
  // The libraries were not installed with this copy (make vendor): a plain text area still works.
  const area = h("textarea", { class: "sketch-textarea", spellcheck: "false", "aria-label": "Sketch code" });
  area.addEventListener("input", () => onChange());
  host.append(area);
  return { get: () => area.value, set: (text) => { area.value = text; } };
}

const state = { project: null, url: null, frame: null, frameOrigin: null };
const editor = makeEditor($("sketch-editor"), () => {
  if (state.project) localStorage.setItem(storageKey(state.project.id), editor.get());
});

function print(kind, text) {
  const line = h("div", { class: `console-${kind}`, text });
  $("sketch-console").append(line);
  line.scrollIntoView({ block: "nearest" });
}

function status(text) { $("sketch-status").textContent = text; }

function stop() {
  if (state.frame) state.frame.remove();
  state.frame = null;
}

function run() {
  stop();
  $("sketch-console").textContent = "";
  const code = editor.get();
  if (!state.frameOrigin) { status("This server runs no sketch frame; start it with `teachable serve`."); return; }
  const frame = h("iframe", { sandbox: "allow-scripts allow-same-origin", allow: "camera; microphone",
    title: "Sketch preview", class: "sketch-frame", src: `${state.frameOrigin}/sketch/frame` });
  state.frame = frame;
  $("sketch-preview").replaceChildren(frame);
  const libraries = librariesFor(code);
  frame.dataset.libraries = libraries.join(" ");
  frame.addEventListener("load", () => frame.contentWindow.postMessage({ code, libraries }, state.frameOrigin), { once: true });
}

window.addEventListener("message", (event) => {
  if (!state.frame || event.source !== state.frame.contentWindow || event.origin !== state.frameOrigin) return;
  if (!event.data || !event.data.teachableSketch) return;
  const { kind, text } = event.data;
  if (kind === "ready") return;
  if (kind === "started") { print("info", "Sketch started."); return; }
  print(kind, text);
});

async function choose(project) {
  stop();
  state.project = project;
  const url = new URL(location.href);
  url.searchParams.set("project", project.id);
  history.replaceState(null, "", url);
  const publishing = await api("GET", `/projects/${project.id}/publish`);
  state.url = publishing.published ? `${location.origin}${publishing.path}` : null;
  const saved = localStorage.getItem(storageKey(project.id));
  editor.set(saved || exampleSketch(state.url || "PUBLISH-THE-MODEL-FIRST/"));
  if (!project.trained) status(`"${project.name}" has no trained model yet: train it in the app first.`);
  else if (!state.url) status(`"${project.name}" is not published: switch "Publish at a URL" on in its export panel, then reload.`);
  else status(`Model URL: ${state.url}`);
}

// `teachable serve-model`: one model, no projects.
async function startWithModel(path, title) {
  $("sketch-project").closest("label").hidden = true;
  state.project = { id: "model", name: title, trained: true };
  state.url = `${location.origin}${path}`;
  editor.set(localStorage.getItem(storageKey("model")) || exampleSketch(state.url));
  status(`Model URL: ${state.url}`);
}

// A student's link names a published model (`?model=/tm/KEY/`): no projects, no token needed.
const PUBLISHED = /^\/tm\/[A-Za-z0-9_-]+\/$/;

async function start() {
  let projects = [];
  const named = new URL(location.href).searchParams.get("model");
  try {
    const { port, model, title } = await api("GET", "/sketch/frame");
    state.frameOrigin = `${location.protocol}//${location.hostname}:${port}`;
    if (model) { await startWithModel(model, title); return; }
    if (named && PUBLISHED.test(named)) { await startWithModel(named, "Published model"); return; }
    projects = (await api("GET", "/projects")).filter((p) => p.kind === "image");
  } catch (error) {
    status(error.status === 401
      ? "This browser cannot open the teacher's projects (that needs the teacher's link). Open the sketch link your teacher gave you: it names a published model (…/sketch/?model=/tm/…/)."
      : error.message);
    return;
  }
  const select = $("sketch-project");
  if (!projects.length) {
    status("No image project yet: make one in the app, train it and publish it.");
    return;
  }
  for (const project of projects) select.append(h("option", { value: project.id, text: project.name }));
  const wanted = new URL(location.href).searchParams.get("project");
  const first = projects.find((p) => p.id === wanted) || projects.find((p) => p.trained) || projects[0];
  select.value = first.id;
  select.addEventListener("change", () => choose(projects.find((p) => p.id === select.value)));
  await choose(first);
}

$("sketch-run").addEventListener("click", run);
$("sketch-stop").addEventListener("click", () => { stop(); print("info", "Stopped."); });
$("sketch-reset").addEventListener("click", () => {
  if (!state.project) return;
  editor.set(exampleSketch(state.url || "PUBLISH-THE-MODEL-FIRST/"));
  toast("The example is back (your previous code was replaced).");
});
$("sketch-download").addEventListener("click", async () => {
  if (!state.project) return;
  try {
    const path = state.project.id === "model" ? "/sketch.zip" : `/projects/${state.project.id}/sketch.zip`;
    const response = await api("POST", path, { code: editor.get(), title: state.project.name }, { raw: true });
    const link = h("a", { href: URL.createObjectURL(await response.blob()), download: `${state.project.id}-sketch.zip` });
    document.body.append(link);
    link.click();
    link.remove();
  } catch (error) {
    toast(error.message, "error");
  }
});
start();
