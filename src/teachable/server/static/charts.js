// Loss and accuracy curves per epoch, drawn on a canvas (no chart library, no network).

import { h } from "./dom.js";

export function legend() {
  const train = h("span", { text: "training" });
  train.style.setProperty("--c", "#1a73e8");
  const val = h("span", { text: "validation" });
  val.style.setProperty("--c", "#e8710a");
  return h("div", { class: "legend" }, train, val);
}

export function drawChart(canvas, history, series, fixedMax) {
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const pad = 64; // room for the y-axis labels left of the frame
  ctx.strokeStyle = "#dfe3ec";
  ctx.lineWidth = 2;
  ctx.strokeRect(pad, 8, width - pad - 8, height - pad - 8);
  if (!history || !history.length) return;
  const values = series.flatMap(([key]) => history.map((point) => point[key]).filter((v) => v !== null && v !== undefined));
  const max = fixedMax || Math.max(...values, 1e-6) * 1.05;
  ctx.fillStyle = "#5f6675";
  ctx.font = "20px system-ui";
  ctx.fillText(max.toFixed(2), 2, 24);
  ctx.fillText("0", 14, height - pad);
  ctx.fillText(`epoch ${history.length}`, width - 140, height - 6);
  const x = (i) => pad + (history.length === 1 ? 0 : (i / (history.length - 1)) * (width - pad - 10));
  const y = (v) => 8 + (1 - v / max) * (height - pad - 16);
  for (const [key, colour] of series) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 3;
    ctx.beginPath();
    let started = false;
    history.forEach((point, i) => {
      const v = point[key];
      if (v === null || v === undefined) return;
      if (!started) { ctx.moveTo(x(i), y(v)); started = true; } else ctx.lineTo(x(i), y(v));
    });
    ctx.stroke();
  }
}

// The validation report: accuracy per class and the confusion matrix (with ``onCell``, each
// count is a button that lists the validation samples in that cell).
export function reportTables(report, onCell, id = "confusion") {
  const perClass = h("table", { class: "per-class" },
    h("tr", {}, h("th", { text: "class" }), h("th", { text: "accuracy" })),
    ...report.labels.map((label) => h("tr", {}, h("td", { text: label }),
      h("td", { text: report.per_class[label] === null ? "n/a" : `${(report.per_class[label] * 100).toFixed(0)}%` }))));
  const cell = (v, i, j) => (onCell && report.cells && v
    ? h("button", { class: "cell", title: `Show the ${v === 1 ? "validation sample" : `${v} validation samples`} of “${report.labels[i]}” predicted “${report.labels[j]}”`,
      onclick: () => onCell(i, j, report.cells[i][j]) }, String(v))
    : String(v));
  const matrix = h("table", { class: "matrix", id },
    h("tr", {}, h("th", {}, h("span", { class: "visually-hidden", text: "true class" })), ...report.labels.map((l) => h("th", { text: l }))),
    ...report.confusion.map((row, i) => h("tr", {}, h("th", { text: report.labels[i] }),
      ...row.map((v, j) => h("td", { class: i === j ? "diag" : "" }, cell(v, i, j))))));
  return { perClass, matrix };
}
