// One project: its classes (gather), the training card, and the preview (with export).
import { api, loadRules, needOf } from "./api.js";
import { classCard } from "./class-card.js";
import { attempt, download, h } from "./dom.js";
import { reviewCard } from "./explain-view.js";
import { previewCard } from "./preview-card.js";
import { trainingCard } from "./training-card.js";

// Returns the function that leaves the view (stops cameras, timers, sockets).
export async function showProject(app, id) {
  const state = { id, project: null, rules: null, alive: true, cleanups: [] };
  const leave = () => { state.alive = false; state.cleanups.forEach((f) => f()); };
  let missing = "";
  const [rules, project] = await Promise.all([attempt(() => loadRules()),
    api("GET", `/projects/${id}`).catch((err) => { missing = err.message; return null; })]);
  if (!project || !rules) { // the reason stays on the page, not only in a toast that fades
    app.append(h("div", { class: "empty", role: "alert" }, h("p", { text: missing || "The project could not be opened." }),
      h("a", { href: "#/", class: "btn" }, "Back to your projects")));
    return leave;
  }
  state.project = project;
  state.kind = rules.kinds[project.kind];
  state.settingRules = rules.settings;
  document.title = `Teachable: ${project.name}`;

  const classesColumn = h("section", { class: "stack", "aria-label": "Classes" });
  const training = trainingCard(state);
  const review = reviewCard(state);
  const preview = previewCard(state);
  const title = h("input", { class: "title", value: project.name, "aria-label": "Project name" });
  title.addEventListener("change", async () => {
    const updated = await attempt(() => api("PATCH", `/projects/${state.id}`, { name: title.value }), "Project renamed.");
    if (updated && updated.id !== state.id) location.hash = `#/p/${updated.id}`;
  });
  const steps = stepsBar();
  app.append(
    steps.element,
    h("h1", { class: "visually-hidden", text: `Project ${project.name}` }),
    h("div", { class: "project-head" },
      h("a", { href: "#/", class: "btn" }, "← Projects"), title,
      h("button", { class: "btn", onclick: () => download(`/api/projects/${state.id}/file`, `${state.id}.teachable-project`) }, "Save to file")),
    h("div", { class: "columns" }, classesColumn, h("div", { class: "stack" }, training.element, review.element), preview.element),
    preview.exportPanel,
  );

  state.refresh = async () => {
    const fresh = await attempt(() => api("GET", `/projects/${state.id}`));
    if (!fresh || !state.alive) return;
    state.project = fresh;
    renderClasses();
    training.update();
    preview.update();
    steps.update(state);
  };
  // After the first training the preview starts by itself, as in Teachable Machine.
  state.onTrained = () => preview.start();

  const cards = new Map();
  const addButton = h("button", { class: "btn add-class", onclick: async () => {
    const used = new Set(state.project.classes.map((c) => c.name));
    let n = state.project.classes.length + 1;
    while (used.has(`Class ${n}`)) n++;
    const added = await attempt(() => api("POST", `/projects/${state.id}/classes`, { name: `Class ${n}` }));
    if (!added) return;
    await state.refresh();
    const card = cards.get(added.id); // the new class's name, ready to be typed over
    if (card) { const field = card.element.querySelector(".class-name"); field.focus(); field.select(); }
  } }, "+ Add a class");
  function renderClasses() {
    const ids = new Set(state.project.classes.map((c) => c.id));
    for (const [cid, card] of cards) if (!ids.has(cid)) { card.destroy(); cards.delete(cid); }
    state.project.classes.forEach((info) => {
      if (!cards.has(info.id)) cards.set(info.id, classCard(state, info));
      cards.get(info.id).update(info);
    });
    const wanted = state.project.classes.map((c) => cards.get(c.id).element);
    const current = [...classesColumn.children].slice(0, -1);
    // Re-inserting a card would cancel a recording in progress (its button loses the pointer).
    if (classesColumn.lastElementChild !== addButton || current.length !== wanted.length
        || current.some((el, i) => el !== wanted[i])) {
      classesColumn.replaceChildren(...wanted, addButton);
    }
  }
  renderClasses();
  training.update();
  preview.update();
  steps.update(state);
  if (["embedding", "training"].includes(project.training.state)) training.follow();
  // Embeddings are computed in the background: refresh while some are pending. And the
  // project may change in another tab: its version says so, cheaply.
  const timer = setInterval(async () => {
    if (state.project.pending_embeddings > 0) { state.refresh(); return; }
    const now = await api("GET", `/projects/${state.id}/version`).catch(() => null);
    if (now && now.version !== state.project.version && state.alive) state.refresh();
  }, 1500);
  state.cleanups.push(() => clearInterval(timer));
  return leave;
}

// Gather -> Train -> Preview: where the project is on Teachable Machine's path.
function stepsBar() {
  const names = ["Gather examples", "Train the model", "Preview and export"];
  const items = names.map((name, i) => h("li", {}, h("span", { class: "step-number", text: String(i + 1) }), name));
  const element = h("ol", { class: "steps", "aria-label": "Steps" }, ...items);
  return {
    element,
    update(state) {
      const p = state.project;
      const gathered = p.classes.length >= 2 && p.classes.every((c) => c.count >= needOf(state.kind, c));
      const trained = p.settings.classifier === "knn" ? gathered : Boolean(p.model) && !p.model_status.stale;
      const current = !gathered ? 0 : !trained ? 1 : 2;
      items.forEach((item, i) => {
        item.className = i < current ? "done" : i === current ? "current" : "";
        if (i === current) item.setAttribute("aria-current", "step"); else item.removeAttribute("aria-current");
      });
    },
  };
}
