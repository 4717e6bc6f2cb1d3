// Teachable's page: Gather -> Train -> Preview -> Export. It talks only to the local /api.
// Each view or card is a module of its own; this one only routes between the two views.
import { showProject } from "./project-view.js";
import { showProjects } from "./projects-view.js";

const app = document.getElementById("app");
let leaveCurrent = () => {};
let visit = 0;

function route() {
  leaveCurrent();
  leaveCurrent = () => {};
  const mine = ++visit;
  const match = location.hash.match(/^#\/p\/([a-z0-9-]+)/);
  app.replaceChildren();
  const shown = match ? showProject(app, match[1]) : showProjects(app, route);
  // A view that finishes loading after the user moved on is left at once.
  shown.then((leave) => { if (typeof leave !== "function") return; if (mine === visit) leaveCurrent = leave; else leave(); });
}

window.addEventListener("hashchange", route);
route();
