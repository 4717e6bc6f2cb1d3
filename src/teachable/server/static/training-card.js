// The training card: the Train button (disabled with the reason why, from the kind's rules),
// progress, the settings form (made from the server's settings: defaults and ranges), and
// under the hood the curves, per-class accuracy and confusion matrix.
import { api, needOf } from "./api.js";
import { drawChart, legend, reportTables } from "./charts.js";
import { attempt, h, toast } from "./dom.js";
import { sampleList } from "./explain-view.js";

// The settings the form shows, with their labels and element ids.
const FORM = [["classifier", "Classifier", "opt-classifier"], ["epochs", "Epochs", "opt-epochs"],
  ["batch_size", "Batch size", "opt-batch"], ["learning_rate", "Learning rate", "opt-lr"], ["k", "k (neighbours)", "opt-k"]];
const CHOICES = { head: "Trained head", knn: "kNN (instant)" };
const HEAD_ONLY = ["epochs", "batch_size", "learning_rate"];

function settingInput(rule, id) {
  if (rule.type === "choice") return h("select", { id, title: rule.help }, ...rule.choices.map((c) => h("option", { value: c, text: CHOICES[c] || c })));
  const step = rule.type === "int" ? "1" : "any";
  const min = rule.minimum === null ? undefined : String(rule.min_open ? rule.minimum + (rule.type === "int" ? 1 : 1e-6) : rule.minimum);
  return h("input", { id, type: "number", step, min, max: rule.maximum === null ? undefined : String(rule.maximum), title: rule.help });
}

export function trainingCard(state) {
  const button = h("button", { class: "btn primary", id: "train" }, "Train model");
  const reason = h("p", { class: "reason" });
  const progressBar = h("div");
  const progress = h("div", { class: "progress", role: "progressbar", "aria-label": "Training progress", "aria-valuemin": "0", "aria-valuemax": "100" }, progressBar);
  const status = h("p", { class: "small muted", "aria-live": "polite" });
  const stale = h("p", { class: "stale", role: "alert", id: "stale" });
  const warnings = h("div", { class: "warnings" });
  const fields = {};
  const labels = {};
  const grid = h("div", { class: "form-grid" });
  const problem = h("p", { class: "field-error", id: "settings-error", role: "alert" });
  problem.hidden = true;
  for (const [key, label, id] of FORM) {
    fields[key] = settingInput(state.settingRules[key], id);
    labels[key] = label;
    grid.append(h("label", { for: id, text: label }), fields[key]);
    fields[key].addEventListener("change", saveSettings);
    fields[key].addEventListener("input", () => showWhyNot());
  }
  const reset = h("button", { class: "btn", type: "button", onclick: async () => {
    const saved = await attempt(() => api("PUT", `/projects/${state.id}/settings`, pick(state.project.defaults)), "Settings reset to defaults.");
    if (saved) { state.project.settings = saved; fill(); state.refresh(); }
  } }, "Reset to defaults");
  const lossChart = h("canvas", { class: "chart", width: "600", height: "300", "aria-label": "Loss per epoch" });
  const accChart = h("canvas", { class: "chart", width: "600", height: "300", "aria-label": "Accuracy per epoch" });
  const chartNote = h("p", { class: "small muted" });
  const curves = h("div", { class: "curves" }, h("h3", { class: "small", text: "Loss per epoch" }), legend(), lossChart,
    h("h3", { class: "small", text: "Accuracy per epoch" }), legend(), accChart);
  const perClass = h("div");
  const matrix = h("div");
  const notes = h("div", { class: "small muted" });
  const element = h("section", { class: "card", "aria-label": "Training" },
    h("h2", { text: "Training" }), button, reason, stale, warnings, progress, status,
    h("details", { class: "section" }, h("summary", { text: "Advanced" }), grid, problem, h("div", { class: "row" }, reset)),
    h("details", { class: "section", id: "under-the-hood" }, h("summary", { text: "Under the hood" }), chartNote,
      curves,
      h("h3", { class: "small", text: "Accuracy per class (validation)" }), perClass,
      h("h3", { class: "small", text: "Confusion matrix (rows: true class, columns: predicted)" }), matrix, notes));
  progress.hidden = true;

  function pick(values) {
    return Object.fromEntries(Object.keys(fields).map((key) => [key, values[key]]));
  }
  function fill() {
    const s = state.project.settings;
    for (const key of Object.keys(fields)) {
      const field = fields[key];
      // a value being typed, or one waiting to be corrected, stays as the user left it
      if (document.activeElement !== field && field.getAttribute("aria-invalid") !== "true") field.value = s[key];
    }
    const knn = s.classifier === "knn";
    for (const key of HEAD_ONLY) fields[key].disabled = knn;
    fields.k.disabled = !knn;
  }
  // A value outside the setting's range (from /api/settings) is said in a sentence beside the form
  // and kept in the field to correct; nothing is sent until every value is usable.
  function invalid(key, text) {
    const rule = state.settingRules[key];
    if (rule.type === "choice") return "";
    const value = Number(text);
    const whole = rule.type === "int";
    const low = rule.minimum;
    const high = rule.maximum;
    const ok = text.trim() !== "" && Number.isFinite(value) && (!whole || Number.isInteger(value))
      && (low === null || (rule.min_open ? value > low : value >= low)) && (high === null || value <= high);
    if (ok) return "";
    const range = low !== null && high !== null ? `${rule.min_open ? "more than" : "from"} ${low} ${rule.min_open ? "and at most" : "to"} ${high}`
      : low !== null ? `at least ${low}` : `at most ${high}`;
    return `${labels[key]} must be ${whole ? "a whole number" : "a number"} ${range}; “${text}” is not.`;
  }
  async function saveSettings() {
    const body = {};
    const problems = [];
    for (const [key, input] of Object.entries(fields)) {
      const rule = state.settingRules[key];
      const why = input.disabled ? "" : invalid(key, input.value);
      input.setAttribute("aria-invalid", String(Boolean(why)));
      if (why) { problems.push(why); input.setAttribute("aria-describedby", "settings-error"); continue; }
      input.removeAttribute("aria-describedby");
      body[key] = rule.type === "choice" ? input.value : rule.type === "int" ? parseInt(input.value, 10) : parseFloat(input.value);
    }
    problem.textContent = problems.join(" ");
    problem.hidden = !problems.length;
    showWhyNot();
    if (problems.length) return;
    const saved = await attempt(() => api("PUT", `/projects/${state.id}/settings`, body));
    if (saved) { state.project.settings = saved; fill(); state.refresh(); } else fill();
  }
  // A settings field showing a value that is not usable: training would use the stored value,
  // not the one on screen, so Train waits until it is corrected.
  function unusableSetting() {
    for (const [key, input] of Object.entries(fields)) {
      if (!input.disabled && invalid(key, input.value)) return `Correct ${labels[key].toLowerCase()} first: ${invalid(key, input.value)}`;
    }
    return "";
  }
  function whyNot() {
    const kind = state.kind;
    const classes = state.project.classes;
    if (classes.length < 2) return "Add at least two classes to train.";
    if (kind.special_class) {
      if (!classes.some((c) => c.name === kind.special_class)) return `A ${kind.name} project needs a “${kind.special_class}” class.`;
      const short = classes.filter((c) => c.count < needOf(kind, c)).map((c) => `${c.name} (${c.count}/${needOf(kind, c)})`);
      if (short.length) return `Record more: ${short.join(", ")}. ${kind.special_class} needs ${kind.min_special} samples, other classes ${kind.min_per_class}.`;
    }
    const empty = classes.filter((c) => c.count === 0).map((c) => c.name);
    if (empty.length) return `Add samples to ${empty.join(", ")} first (every class needs at least one).`;
    if (["embedding", "training"].includes(state.project.training.state)) return "Training…";
    return unusableSetting();
  }
  function showWhyNot() {
    const why = whyNot();
    button.disabled = Boolean(why);
    reason.textContent = why;
  }
  let refocus = false; // a disabled button loses the focus: give it back when training ends
  button.addEventListener("click", async () => {
    const unusable = unusableSetting();
    if (unusable) { toast(unusable, "error"); button.disabled = true; return; }
    refocus = document.activeElement === button;
    button.disabled = true; // a double click sends one request
    const job = await attempt(() => api("POST", `/projects/${state.id}/train`));
    if (job) { state.project.training = job; follow(); } else button.disabled = Boolean(whyNot());
  });

  let following = false;
  async function follow() {
    if (following) return;
    following = true;
    while (state.alive) {
      const job = await attempt(() => api("GET", `/projects/${state.id}/train`));
      if (!job) break;
      state.project.training = job;
      showJob(job);
      if (job.state === "done" || job.state === "failed") {
        if (job.state === "done") toast("Training finished. Try it in the preview!");
        else toast(job.error || "Training failed.", "error");
        following = false;
        await state.refresh();
        if (job.state === "done" && state.onTrained) state.onTrained();
        if (refocus && (!document.activeElement || document.activeElement === document.body)) button.focus();
        refocus = false;
        return;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    following = false;
    state.refresh();
  }

  // Settings changed since the model was trained: say so, and that Train applies them.
  function settingsNote(trained) {
    const now = state.project.settings;
    if (!trained || !now) return "";
    const keys = now.classifier === "knn" ? ["classifier", "k"] : ["classifier", "epochs", "batch_size", "learning_rate"];
    const changed = keys.filter((key) => trained[key] !== undefined && String(trained[key]) !== String(now[key]));
    if (!changed.length) return "";
    const names = { classifier: "classifier", k: "k", epochs: "epochs", batch_size: "batch size", learning_rate: "learning rate" };
    const preview = now.classifier === "knn" ? " (the preview already uses kNN on every sample)" : "";
    return ` The settings changed since (${changed.map((k) => names[k]).join(", ")}): press Train to apply them${preview}.`;
  }

  function showJob(job) {
    const running = job.state === "embedding" || job.state === "training";
    progress.hidden = !running && job.state !== "done";
    let fraction = 0;
    if (job.state === "embedding") {
      fraction = job.to_embed ? job.embedded / job.to_embed * 0.3 : 0.3;
      status.textContent = job.to_embed ? `Preparing samples… ${job.embedded}/${job.to_embed}` : "Preparing samples…";
    } else if (job.state === "training") {
      fraction = 0.3 + 0.7 * (job.epoch / Math.max(job.epochs, 1));
      status.textContent = `Training: epoch ${job.epoch} of ${job.epochs}`;
    } else if (job.state === "done") {
      fraction = 1;
      const acc = job.report ? ` Validation accuracy ${(job.report.accuracy * 100).toFixed(0)}%.` : "";
      status.textContent = `Model trained (${job.settings.classifier === "knn" ? "kNN" : "trained head"}).${acc}${settingsNote(job.settings)}`;
    } else if (job.state === "failed") {
      status.textContent = job.error || "Training failed.";
    } else status.textContent = "";
    progressBar.style.width = `${Math.round(fraction * 100)}%`;
    progress.setAttribute("aria-valuenow", String(Math.round(fraction * 100)));
    const knnRun = job.settings && job.settings.classifier === "knn" && job.state === "done";
    chartNote.textContent = knnRun ? "kNN learns nothing epoch by epoch: it keeps the examples, so there are no curves. Its accuracy is below." : "";
    curves.hidden = knnRun; // no empty chart frames
    drawChart(lossChart, job.history, [["loss", "#1a73e8"], ["val_loss", "#e8710a"]]);
    drawChart(accChart, job.history, [["accuracy", "#1a73e8"], ["val_accuracy", "#e8710a"]], 1);
    showReport(job.report || (state.project.model && state.project.model.metrics), job.notes);
  }

  function showReport(report, jobNotes) {
    if (!report) { perClass.replaceChildren(h("p", { class: "small muted", text: "Train to see how the model does on held-out samples." })); matrix.replaceChildren(); return; }
    const tables = reportTables(report, (i, j, sources) => {
      const listing = sampleList(state, `Validation samples of “${report.labels[i]}” the model called “${report.labels[j]}”:`, sources);
      matrix.replaceChildren(tables.matrix, listing);
    });
    perClass.replaceChildren(tables.perClass);
    matrix.replaceChildren(tables.matrix);
    notes.replaceChildren(...[...(report.notes || []), ...(jobNotes || [])].filter((n, i, all) => all.indexOf(n) === i)
      .map((n) => h("p", { text: n })));
  }

  return {
    element,
    follow,
    update() {
      fill();
      showWhyNot();
      const modelStatus = state.project.model_status;
      stale.textContent = modelStatus && modelStatus.stale ? modelStatus.reason : "";
      stale.hidden = !stale.textContent;
      warnings.replaceChildren(...state.project.warnings.map((w) => h("p", { class: "warning", text: w })));
      if (!following) showJob(state.project.training);
    },
  };
}
