// Export: downloads of the trained model, and code to copy that uses it.
import { api } from "./api.js";
import { attempt, download, h, toast } from "./dom.js";

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

export function exportCard(state) {
  const base = `${location.origin}/api/projects/${state.id}`;
  const file = `${state.id}.teachable`;
  const contains = h("p", { class: "small", id: "export-classes" });
  const busy = h("span", { class: "small muted", role: "status" });
  const onnx = h("button", { class: "btn", id: "download-onnx", onclick: async () => {
    // Making the bundle takes seconds: say so, and allow one at a time.
    onnx.disabled = true;
    busy.textContent = "Preparing the ONNX bundle… (this takes a few seconds)";
    const response = await attempt(() => api("GET", `/projects/${state.id}/models/current/export?format=onnx`, undefined, { raw: true }));
    if (response) {
      const url = URL.createObjectURL(await response.blob());
      download(url, `${state.id}-onnx.zip`);
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      toast("ONNX bundle downloaded.");
    }
    busy.textContent = "";
    onnx.disabled = false;
  } }, "Download ONNX bundle (.zip)");
  const element = h("div", { class: "export", id: "export-panel" },
    h("h3", { text: "Export" }), contains,
    h("div", { class: "row" },
      h("button", { class: "btn primary", id: "download-teachable",
        onclick: () => download(`${base}/models/current/download`, file) }, "Download .teachable"),
      onnx, busy),
    h("p", { class: "small muted", text: state.kind.audio
      ? "The ONNX bundle holds the classifier (model.onnx), Google's speech_embedding front end, the exact recipe, and predict.py."
      : "The ONNX bundle holds model.onnx (the whole model: photo in, probabilities out), its labels and input recipe, and ready-to-run examples." }),
    ...snippetsFor(state, base, file).map(([title, code]) => {
      const pre = h("pre", { class: "snippet" }, h("code", { text: code }));
      const copy = h("button", { class: "btn small-btn", onclick: async () => {
        try { await navigator.clipboard.writeText(code); toast("Copied."); }
        catch (_) { toast("Select the text and copy it with Ctrl+C.", "error"); }
      } }, "Copy");
      return h("div", { class: "snippet-block" }, h("div", { class: "row between" }, h("strong", { class: "small", text: title }), copy), pre);
    }));
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
