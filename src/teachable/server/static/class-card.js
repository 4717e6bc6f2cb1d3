// One class: its name, samples (thumbnails), and the ways to add more (webcam or microphone,
// upload, drop). What it accepts and how many samples it needs come from the kind's rules.
import { api, needOf } from "./api.js";
import { droppedFiles, microphoneRecorder, webcamRecorder } from "./capture.js";
import { attempt, colourOfClass, h, plural, toast } from "./dom.js";

export function classCard(state, initial) {
  const kind = state.kind;
  const audio = kind.audio;
  const noun = kind.samples_word;
  let info = initial;
  const locked = info.name === kind.special_class; // e.g. a sound project's "Background Noise"
  const name = h("input", { class: "class-name", value: info.name, "aria-label": "Class name", readonly: locked,
    title: locked ? `Every ${kind.name} project has this class; it cannot be renamed` : "Click to rename" });
  const pencil = locked ? null : h("button", { class: "pencil", type: "button", "aria-label": "Rename this class", title: "Rename",
    onclick: () => { name.focus(); name.select(); } }, "✎");
  const swatch = h("span", { class: "swatch" });
  const count = h("span", { class: "count" });
  const thumbs = h("div", { class: "thumbs", role: "list", "aria-label": `Samples of ${initial.name}` });
  const fileInput = h("input", { type: "file", accept: [audio ? "audio/*" : "image/*", ...kind.accept].join(","), multiple: true,
    class: "visually-hidden", tabindex: "-1", "aria-hidden": "true" });
  const drop = h("div", { class: "dropzone" }, `Drop ${noun} or folders here`);
  const captureButton = h("button", { class: "btn", "aria-pressed": "false" }, audio ? "Microphone" : "Webcam");
  const panel = h("div");
  // The class's test set: samples in new conditions, never trained on (Review shows how they do).
  // (its file chooser is made when asked for: the card keeps one file input, the class's own)
  function chooseTestFiles() {
    const input = h("input", { type: "file", accept: [audio ? "audio/*" : "image/*", ...kind.accept].join(","), multiple: true,
      class: "visually-hidden", tabindex: "-1", "aria-hidden": "true" });
    input.addEventListener("change", () => { upload([...input.files], "upload", true); input.remove(); });
    document.body.append(input);
    input.click();
  }
  const testCount = h("span", { class: "small muted test-count" });
  const testThumbs = h("div", { class: "thumb-row test-thumbs", "aria-label": "Test samples" });
  const testBody = h("div", { class: "test-body" },
    h("p", { class: "small muted", text: `${noun[0].toUpperCase()}${noun.slice(1)} in new conditions (another background, another voice, a drawing): never trained on; Review shows how the model does on them.` }),
    h("button", { class: "btn", onclick: chooseTestFiles }, "Add test files…"), testThumbs);
  testBody.hidden = true;
  const testToggle = h("button", { class: "test-toggle", type: "button", "aria-expanded": "false" }, "Test samples ", testCount);
  testToggle.addEventListener("click", () => {
    testBody.hidden = !testBody.hidden;
    testToggle.setAttribute("aria-expanded", String(!testBody.hidden));
  });
  const testSet = h("div", { class: "test-set" }, testToggle, testBody);
  let shownSamples = "";
  let recorder = null;

  name.addEventListener("change", async () => {
    const updated = await attempt(() => api("PATCH", `/projects/${state.id}/classes/${info.id}`, { name: name.value }));
    if (updated) state.refresh(); else name.value = info.name;
  });
  fileInput.addEventListener("change", () => { upload([...fileInput.files], "upload"); fileInput.value = ""; });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    upload(await droppedFiles(e.dataTransfer), "upload");
  });

  // Files into the class (or its test set). A recording passes ``stats``: its batches are counted
  // there and reported once, when the recording ends (report below), instead of a toast a batch.
  async function upload(files, source, test = false, stats = null) {
    const wanted = audio ? "audio/" : "image/";
    const accepted = files.filter((f) => !f.type || f.type.startsWith(wanted));
    if (files.length && !accepted.length) { toast(`Those files are not ${noun}.`, "error"); return; }
    let added = 0;
    let copies = 0;
    let nobody = 0;
    const idle = drop.firstChild.textContent;
    for (let i = 0; i < accepted.length; i += 50) {
      if (accepted.length > 5 && !stats) drop.firstChild.textContent = `Adding ${noun}… ${i} of ${accepted.length}`;
      const form = new FormData();
      accepted.slice(i, i + 50).forEach((f) => form.append("files", f, f.name || "webcam.jpg"));
      form.append("source", source);
      if (test) form.append("set", "test");
      const post = () => api("POST", `/projects/${state.id}/classes/${info.id}/samples`, form);
      // A recording counts a batch that was all unusable (422) like any other; a file upload says why at once.
      const result = stats
        ? await post().catch((err) => (err.answer && err.answer.errors ? { added: 0, duplicates: 0, ids: [], errors: err.answer.errors }
          : (toast(err.message, "error"), undefined)))
        : await attempt(post);
      if (result) { added += result.added; copies += result.duplicates; nobody += result.nobody || 0; }
      if (stats) {
        stats.total += Math.min(50, accepted.length - i);
        if (result) {
          stats.nothing += (result.nobody || 0) + result.errors.filter((e) => e.nothing_detected).length;
          stats.failed.push(...result.errors.filter((e) => !e.nothing_detected).map((e) => e.error));
        }
      } else if (result && result.errors.length) {
        toast(`${plural(result.errors.length, "file", "files")} skipped: ${result.errors[0].error}`, "error");
      }
    }
    drop.firstChild.textContent = idle;
    if (stats) { stats.added += added; stats.copies += copies; state.refresh(); return; }
    const thing = audio ? ["sound", "sounds"] : ["photo", "photos"];
    const where = test ? `${info.name}'s test samples` : info.name;
    if (added) toast(`Added ${plural(added, ...thing)} to ${where}.` + (nobody
      ? ` ${nobody === added ? (added === 1 ? "It has" : "They have") : `${nobody} of them ${nobody === 1 ? "has" : "have"}`} no ${kind.name === "hand" ? "hand" : "one"} in view: kept as "nobody in view" examples.`
      : ""));
    if (copies) toast(`${plural(copies, ...thing)} ${copies === 1 ? "was" : "were"} already in ${where}: kept once.`);
    state.refresh();
  }
  // What one recording gave, said once: kept, the same again and again, nobody in view, unusable.
  upload.report = (stats) => {
    const unit = audio ? ["second", "seconds"] : ["frame", "frames"];
    // Every count is of the frames (seconds) recorded, so they add up.
    const parts = [`${stats.added} kept`];
    if (stats.copies) parts.push(`${stats.copies} the same as one already kept`);
    if (stats.nothing) parts.push(`${stats.nothing === stats.total ? (stats.total === 1 ? "it" : `all ${stats.total}`) : stats.nothing} with no ${kind.name === "hand" ? "hand" : "one"} in view (kept as “nobody in view” examples)`);
    if (stats.failed.length) parts.push(`${stats.failed.length} unusable (${stats.failed[0].replace(/'[^']*\.(jpg|wav)'/g, "a frame")})`);
    toast(`Recorded ${plural(stats.total, ...unit)}: ${parts.join(", ")}.`, stats.added ? "info" : "error");
    if (stats.copies && stats.copies >= stats.added) {
      const of = `${stats.copies} of ${stats.copies + stats.added}`;
      toast(audio ? `The microphone gave the same sound again and again (${of} seconds) — is it muted?`
        : `The webcam gave the same picture again and again (${of} frames) — is it covered or frozen?`, "error");
    }
  };

  async function toggleCapture() {
    if (recorder) { closeCapture(); return; }
    captureButton.setAttribute("aria-pressed", "true");
    recorder = audio ? await microphoneRecorder(() => info, upload, closeCapture)
      : await webcamRecorder(state, () => info, upload, closeCapture);
    if (recorder) panel.replaceChildren(recorder.element);
  }
  function closeCapture() {
    if (recorder) recorder.stop();
    recorder = null;
    panel.replaceChildren();
    captureButton.setAttribute("aria-pressed", "false");
  }
  captureButton.addEventListener("click", toggleCapture);

  const menu = h("details", { class: "menu" },
    h("summary", { "aria-label": `Options of ${info.name}` }, "⋮"),
    h("div", { class: "menu-items" },
      h("button", { onclick: async () => {
        menu.open = false;
        if (!confirm(`Remove every sample from “${info.name}”?`)) return;
        if (await attempt(() => api("POST", `/projects/${state.id}/classes/${info.id}/clear`), "Class cleared.")) state.refresh();
      } }, "Remove all samples"),
      locked ? null : h("button", { onclick: async () => {
        menu.open = false;
        if (!confirm(`Delete the class “${info.name}” and its samples?`)) return;
        if (await attempt(() => api("DELETE", `/projects/${state.id}/classes/${info.id}`), "Class deleted.") !== undefined) state.refresh();
      } }, "Delete class")));
  menu.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && menu.open) { menu.open = false; menu.querySelector("summary").focus(); }
  });

  const element = h("article", { class: "card class-card" },
    h("div", { class: "class-head" }, swatch, name, pencil, count, menu),
    thumbs,
    h("div", { class: "row" }, captureButton,
      h("button", { class: "btn", onclick: () => fileInput.click() }, "Upload"), fileInput),
    drop, panel, testSet);

  async function loadThumbnails() {
    const all = await attempt(() => api("GET", `/projects/${state.id}/classes/${info.id}/samples`));
    if (!all) return;
    const samples = all.filter((s) => !s.test);
    testThumbs.replaceChildren(...all.filter((s) => s.test).map((s) => h("span", { class: "thumb-small" },
      h("img", { src: `/api/projects/${state.id}/samples/${s.id}/thumbnail?size=56`, alt: `Test sample ${s.id}`, loading: "lazy" }))));
    // One tab stop for the whole grid (a roving tabindex): arrow keys move between samples,
    // Delete or Backspace removes the focused one, Enter plays a sound.
    const hadFocus = thumbs.contains(document.activeElement) ? [...thumbs.children].indexOf(document.activeElement) : -1;
    const remove = async (s) => {
      if (await attempt(() => api("DELETE", `/projects/${state.id}/samples/${s.id}`)) !== undefined) state.refresh();
    };
    const play = (s) => new Audio(`/api/projects/${state.id}/samples/${s.id}/data`).play();
    thumbs.replaceChildren(...samples.slice().reverse().map((s, i) => {
      const empty = s.nobody ? (kind.name === "hand" ? "no hand in view" : "no one in view") : "";
      const cell = h("div", { class: audio ? "thumb sound" : s.nobody ? "thumb nobody" : "thumb", tabindex: i === 0 ? "0" : "-1", role: "listitem",
        "aria-label": `${audio ? "Sound sample" : "Sample"} ${s.id} of ${info.name}${empty ? ` (${empty})` : ""}: Delete removes it${audio ? ", Enter plays it" : ""}`,
        title: empty ? `${empty[0].toUpperCase()}${empty.slice(1)}: a “nobody in view” example` : undefined },
      h("img", { src: `/api/projects/${state.id}/samples/${s.id}/thumbnail`, alt: "", loading: "lazy", title: audio ? "Play" : "",
        onclick: audio ? () => play(s) : undefined }),
      // Not a tab stop: the grid is one (a class of 90 samples would put 90 between a user and Train).
      h("button", { "aria-label": `Delete sample ${s.id}`, title: "Delete this sample", tabindex: "-1", onclick: () => remove(s) }, "×"));
      cell.addEventListener("keydown", (e) => {
        const cells = [...thumbs.children];
        const at = cells.indexOf(cell);
        const columns = Math.max(1, Math.round(thumbs.clientWidth / (cell.offsetWidth || 1)));
        const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns, Home: -at, End: cells.length - 1 - at }[e.key];
        if (step !== undefined) {
          e.preventDefault();
          const next = cells[Math.min(cells.length - 1, Math.max(0, at + step))];
          cells.forEach((c) => c.setAttribute("tabindex", c === next ? "0" : "-1"));
          next.focus();
        } else if (e.key === "Delete" || e.key === "Backspace") {
          e.preventDefault();
          remove(s);
        } else if (audio && e.key === "Enter") play(s);
      });
      return cell;
    }));
    if (hadFocus >= 0 && thumbs.children.length) { // after a delete, the next sample takes the focus
      const next = thumbs.children[Math.min(hadFocus, thumbs.children.length - 1)];
      [...thumbs.children].forEach((c) => c.setAttribute("tabindex", c === next ? "0" : "-1"));
      next.focus();
    }
  }

  return {
    element,
    update(next) {
      info = next;
      if (document.activeElement !== name) name.value = info.name;
      swatch.style.background = colourOfClass(info.id);
      // Kinds with a special class (sound) show how far each class is from its minimum.
      const need = needOf(kind, info);
      count.textContent = kind.special_class ? `${info.count} / ${plural(need, "sample", "samples")}` : plural(info.count, "sample", "samples");
      count.classList.toggle("short", Boolean(kind.special_class) && info.count < need);
      testCount.textContent = info.test_count ? `(${info.test_count})` : "";
      const signature = `${info.count}:${info.test_count}:${state.project.version}`;
      if (signature !== shownSamples) { shownSamples = signature; loadThumbnails(); }
    },
    destroy() { closeCapture(); },
  };
}
