// The first page: the kinds of project to start (told by the server, with a line on each),
// and the projects already made.
import { api, loadRules } from "./api.js";
import { attempt, download, h, plural, toast } from "./dom.js";

export async function showProjects(app, route) {
  document.title = "Teachable: projects";
  const rules = await attempt(() => loadRules());
  if (!rules) return null;
  const list = h("div", { class: "project-list" });
  const name = h("input", { type: "text", placeholder: "Name of a new project", "aria-label": "New project name", value: "" });
  const opening = h("span", { class: "small", role: "status" });
  const fileInput = fileOpener({ accept: ".teachable-project", path: "/projects/open", note: "every sample is checked", status: opening,
    opened: (project) => ({ project, message: "Project opened." }) });
  // Teachable Machine's "Save project to file" (.tm): image and pose projects.
  const tmInput = fileOpener({ accept: ".tm", id: "tm-file", path: "/projects/import-tm", status: opening,
    note: "every sample is checked; pose frames are read for keypoints",
    opened: (result) => ({ project: result.project, message: `Teachable Machine project opened: ${result.messages.join("; ")}.` }) });
  const create = async (kind) => {
    const project = await attempt(() => api("POST", "/projects", { name: name.value.trim() || "Untitled project", kind }));
    if (project) location.hash = `#/p/${project.id}`;
  };
  const [first] = rules.kindList;
  // One card per kind, with a picture and a line saying what it learns (Teachable Machine's way).
  const kindCard = (kind) => h("div", { class: "kind-card" },
    h("img", { src: `/static/kind-${kind.name}.svg`, alt: "", width: "56", height: "56" }),
    h("div", {}, h("strong", { text: kind.title }), h("p", { class: "small muted", text: kind.summary })),
    h("button", { class: "btn primary", type: kind === first ? "submit" : "button", id: kind === first ? "create-project" : `create-${kind.name}-project`,
      onclick: kind === first ? undefined : () => create(kind.name) }, `New ${kind.title.toLowerCase()}`));
  app.append(
    h("h1", { text: "Your projects" }),
    h("p", { class: "steps-intro muted" }, "Make a project, ", h("strong", { text: "gather" }), " examples of each class, ",
      h("strong", { text: "train" }), " a model, then ", h("strong", { text: "preview" }), " and export it — all on this computer."),
    h("form", { class: "new-project card", onsubmit: (e) => { e.preventDefault(); create(first.name); } },
      h("label", { class: "name-field" }, h("span", { class: "small muted", text: "Name" }), name),
      h("div", { class: "kinds" }, ...rules.kindList.map(kindCard)),
      h("div", { class: "row" }, h("button", { class: "btn", type: "button", onclick: () => fileInput.click() }, "Open from file…"),
        h("span", { class: "small muted", text: "a project saved with “Save to file”" }),
        h("button", { class: "btn", type: "button", id: "open-tm", onclick: () => tmInput.click() }, "Open a Teachable Machine project…"),
        h("span", { class: "small muted", text: "a .tm file (image or pose)" }), opening),
      fileInput, tmInput),
    list,
  );
  const projects = await attempt(() => api("GET", "/projects"));
  if (!projects) return null;
  const titles = rules.kindList.map((k) => `“New ${k.title.toLowerCase()}”`);
  if (!projects.length) list.append(h("p", { class: "empty" }, `No projects yet. Name one above and press ${titles.slice(0, -1).join(", ")} or ${titles.at(-1)}.`));
  for (const p of projects) list.append(projectItem(p, route));
  return null;
}

// A hidden file input: the chosen file is uploaded to `path`, and the project it makes is opened.
function fileOpener({ accept, id, path, note, status, opened }) {
  const input = h("input", { type: "file", accept, id, class: "visually-hidden", tabindex: "-1", "aria-hidden": "true" });
  input.addEventListener("change", async () => {
    if (!input.files.length) return;
    const form = new FormData();
    form.append("file", input.files[0]);
    status.textContent = `Opening ${input.files[0].name}… (${note})`;
    const result = await attempt(() => api("POST", path, form));
    status.textContent = "";
    if (!result) return;
    const { project, message } = opened(result);
    toast(message);
    location.hash = `#/p/${project.id}`;
  });
  return input;
}

function projectItem(p, route) {
  const rename = async () => {
    const name = prompt("New name for the project", p.name);
    if (name && name.trim()) {
      const done = await attempt(() => api("PATCH", `/projects/${p.id}`, { name }), "Renamed.");
      if (done) route();
    }
  };
  const remove = async () => {
    if (!confirm(`Delete “${p.name}” and all its samples and models? This cannot be undone.`)) return;
    if (await attempt(() => api("DELETE", `/projects/${p.id}`), "Project deleted.") !== undefined) route();
  };
  const duplicate = async () => {
    if (await attempt(() => api("POST", `/projects/${p.id}/duplicate`), "Project duplicated.")) route();
  };
  return h("article", { class: "card project-item" },
    h("h2", {}, h("a", { href: `#/p/${p.id}` }, p.name)),
    h("p", { class: "muted small" }, `${p.kind} project · ${plural(p.classes, "class", "classes")} · ${plural(p.samples, "sample", "samples")} · `,
      h("span", { class: p.trained ? "trained" : "untrained", text: p.trained ? "model trained" : "not trained yet" })),
    h("div", { class: "row" },
      h("a", { class: "btn primary", href: `#/p/${p.id}` }, "Open"),
      h("button", { class: "btn", onclick: rename }, "Rename"),
      h("button", { class: "btn", onclick: duplicate }, "Duplicate"),
      h("button", { class: "btn", onclick: () => download(`/api/projects/${p.id}/file`, `${p.id}.teachable-project`) }, "Save to file"),
      h("button", { class: "btn danger", onclick: remove }, "Delete")));
}
