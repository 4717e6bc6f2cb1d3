// "Why does it say that?": the samples a prediction resembles, where the model looked, and the
// review of the samples (flagged ones with their reason, one click to move, delete or keep).
import { api } from "./api.js";
import { reportTables } from "./charts.js";
import { attempt, h, plural } from "./dom.js";

function thumbnail(state, sampleId, size = 64) {
  const img = h("img", { src: `/api/projects/${state.id}/samples/${sampleId}/thumbnail?size=${size}`, alt: `Sample ${sampleId}`,
    loading: "lazy" });
  img.addEventListener("error", () => { img.replaceWith(h("span", { class: "gone", text: "deleted" })); });
  return img;
}

// Under the bars: the training samples the current frame or file resembles most. With a trained head
// they are only the most similar samples, not the reason for the answer, and the page says so, and
// says when they disagree with it (that itself is a hint: the model learnt something they do not show).
export function neighboursStrip(state) {
  const list = h("ol", { class: "neighbours", "aria-label": "Most like these samples" });
  const heading = h("p", { class: "small muted" });
  const disagreement = h("p", { class: "small warning-text", id: "neighbours-disagree" });
  const element = h("div", { class: "neighbours-box", id: "neighbours" }, heading, list, disagreement);
  element.hidden = true;
  let shown = "";
  return {
    element,
    show(neighbours, answer = null) {
      const usable = (neighbours || []).filter((n) => n.sample_id);
      const knn = state.project.settings.classifier === "knn";
      heading.textContent = knn ? "The answer comes from these, the most similar samples:"
        : "Most similar training samples (similar is not the reason: the trained model answers from what it learnt):";
      const counts = {};
      usable.forEach((n) => { counts[n.label] = (counts[n.label] || 0) + 1; });
      const [most] = Object.entries(counts).sort((a, b) => b[1] - a[1]);
      disagreement.textContent = !knn && answer && most && most[0] !== answer && most[1] > usable.length / 2
        ? `The most similar samples are “${most[0]}”, but the model answers “${answer}”: it learnt to tell them apart by something these do not show, or the samples need another look.`
        : "";
      element.hidden = !usable.length;
      const key = usable.map((n) => `${n.sample_id}:${n.similarity.toFixed(2)}`).join(",") + `|${answer}|${knn}`;
      if (key === shown) return;
      shown = key;
      list.replaceChildren(...usable.map((n) => h("li", { class: "neighbour", "data-sample": String(n.sample_id),
        title: `${n.label}, similarity ${n.similarity.toFixed(2)}` },
        thumbnail(state, n.sample_id), h("span", { class: "small", text: `${n.label} · ${Math.round(n.similarity * 100)}%` }))));
    },
    clear() { shown = ""; list.replaceChildren(); disagreement.textContent = ""; element.hidden = true; },
  };
}

// "Why?": the heatmap (photo), the windows (sound) or the landmarks (pose, hand) for one input.
export function whyPanel(state) {
  const picture = h("img", { class: "why-picture", alt: "" });
  const caption = h("figcaption", { class: "small" });
  const figure = h("figure", { class: "why", id: "why" }, picture, caption);
  figure.hidden = true;
  return {
    element: figure,
    async explain(blob, name = "frame.jpg") {
      const form = new FormData();
      form.append("file", blob, name);
      caption.textContent = "Looking…";
      figure.hidden = false;
      const result = await attempt(() => api("POST", `/projects/${state.id}/explain`, form));
      if (!result) { figure.hidden = true; return; }
      picture.src = result.picture;
      picture.alt = `Where the model found “${result.label}”`;
      if (result.no_evidence) {  // a blank map would read as "everywhere" or "nowhere": say it
        picture.alt = `Nothing in it pushed the model towards “${result.label}”`;
        caption.textContent = `Nothing in this ${result.kind === "sound" ? "sound" : "picture"} pushed the model towards “${result.label}”: `
          + "the answer comes from the absence of the other classes, so there is no place to point at.";
        return;
      }
      const what = result.kind === "image" ? "This is the square the network saw (the centre of the picture, as every sample is cropped). Brighter places pushed the model towards"
        : result.kind === "sound" ? "The coloured strip under the sound (time in tenths of a second) shows which parts pushed the model towards"
          : "Larger, brighter dots are the landmarks that pushed the model towards";
      caption.textContent = `${what} “${result.label}”. A heatmap is evidence, not proof.`;
    },
    hide() { figure.hidden = true; },
  };
}

// Samples listed by their project ids, as small thumbnails (a cell of the confusion matrix).
export function sampleList(state, title, sources) {
  const ids = sources.map((s) => /^sample:(\d+)$/.exec(s)).filter(Boolean).map((m) => Number(m[1]));
  return h("div", { class: "cell-samples" }, h("p", { class: "small", text: title }),
    ids.length ? h("div", { class: "thumb-row" }, ...ids.map((id) => h("span", { class: "thumb-small" }, thumbnail(state, id, 56))))
      : h("p", { class: "small muted", text: sources.length ? "These samples came from outside the project." : "No samples here." }));
}

const REASONS = {
  mislabel: (f) => `Possibly mislabelled: it is in “${f.label}”, but ${Math.round(f.score * 100)}% of the vote of its most similar samples (below) says “${f.suggested}”. You decide: these are the evidence, not a verdict.`,
  duplicate: (f) => {
    const other = f.voters && f.voters[0];
    const where = other && other.label !== f.label ? `the sample beside it, filed in “${other.label}”` : "the sample beside it";
    return `Almost the same as ${where} (similarity ${f.score.toFixed(2)}): copies make the validation look better than the model is.`;
  },
  outlier: (f) => `Unlike the other samples of every class: is it what you meant to show?`,
};

// A thumbnail with its caption under it (a class, a similarity), not hidden in a tooltip.
function labelled(picture, caption) {
  return h("figure", { class: "thumb-small" }, picture, h("figcaption", { class: "small", text: caption }));
}

// The Review card: flagged samples with the reason, and what to do about each.
export function reviewCard(state) {
  const run = h("button", { class: "btn", id: "review" }, "Review samples");
  const status = h("p", { class: "small muted", "aria-live": "polite" });
  const hints = h("div", { class: "warnings" });
  const list = h("ul", { class: "flags", id: "flags", "aria-label": "Flagged samples" });
  const tested = h("div", { class: "test-results", id: "test-results" });
  const element = h("section", { class: "card", "aria-label": "Review" },
    h("h2", { text: "Review" }),
    h("p", { class: "small muted", text: "Find samples to look at again: filed in the wrong class, near duplicates, or unlike the rest." }),
    run, status, hints, list, tested);

  // The test sets: how the current model does on samples it never saw, and what the ones it gets
  // wrong look like to it.
  async function showTests() {
    const withTests = state.project.classes.some((c) => c.test_count);
    if (!withTests || !state.project.model) { tested.replaceChildren(); return; }
    const result = await api("GET", `/projects/${state.id}/test`).catch((err) => ({ error: err.message }));
    if (result.error) { tested.replaceChildren(h("p", { class: "small muted", text: result.error })); return; }
    const { report, mistakes } = result;
    const tables = reportTables(report, (i, j, sources) => {
      tested.querySelector(".test-matrix").replaceChildren(tables.matrix,
        sampleList(state, `Test samples of “${report.labels[i]}” the model called “${report.labels[j]}”:`, sources));
    }, "test-confusion");
    const validation = state.project.model && state.project.model.metrics && typeof state.project.model.metrics.accuracy === "number"
      ? ` · validation said ${Math.round(state.project.model.metrics.accuracy * 100)}%` : "";
    const status = state.project.model_status;
    tested.replaceChildren(
      h("h3", { class: "small", text: `Test set: ${Math.round(report.accuracy * 100)}% right (${report.count} samples never trained on)${validation}` }),
      ...(status && status.stale ? [h("p", { class: "small warning-text", id: "test-stale",
        text: "The model is older than the samples: it was trained before the last changes. Train again to test what the classes hold now." })] : []),
      h("p", { class: "small muted", text: "Rows: the true class · columns: what the model said." }),
      h("div", { class: "test-matrix" }, tables.matrix),
      ...(mistakes.length ? [h("p", { class: "small", text: "Wrong on these, and what each looks like to the model:" }),
        h("ul", { class: "flags mistakes" }, ...mistakes.map((m) => h("li", { class: "flag", "data-sample": String(m.sample_id) },
          h("div", { class: "flag-pictures" }, thumbnail(state, m.sample_id, 72)),
          h("div", {}, h("p", { class: "small", text: `A test sample of “${m.label}” taken for “${m.predicted}” (${Math.round(m.confidence * 100)}%). Most like:` }),
            h("div", { class: "thumb-row" }, ...(m.neighbours || []).filter((n) => n.sample_id).map((n) =>
              labelled(thumbnail(state, n.sample_id, 56), `${n.label} · ${Math.round(n.similarity * 100)}%`)))))))] : []));
  }

  async function refresh() {
    run.disabled = true;
    status.textContent = "Reviewing…";
    showTests();
    const review = await attempt(() => api("GET", `/projects/${state.id}/review`));
    run.disabled = false;
    if (!review) { status.textContent = ""; return; }
    status.textContent = `${plural(review.samples, "sample", "samples")} reviewed: ${review.flagged ? plural(review.flagged, "sample", "samples") + " to look at" : "nothing to look at"}.`;
    hints.replaceChildren(...review.hints.map((hint) => h("p", { class: "warning", text: hint.message })));
    const classes = Object.fromEntries(state.project.classes.map((c) => [c.name, c.id]));
    list.replaceChildren(...review.flags.map((flag) => {
      const actions = [];
      if (flag.reason === "mislabel" && flag.suggested in classes) {
        actions.push(h("button", { class: "btn", onclick: () => act(() => api("POST",
          `/projects/${state.id}/samples/${flag.sample_id}/move`, { class_id: classes[flag.suggested] }), `Moved to “${flag.suggested}”.`,
        () => api("POST", `/projects/${state.id}/samples/${flag.sample_id}/move`, { class_id: classes[flag.label] }), `Moved back to “${flag.label}”.`) },
        `Move to “${flag.suggested}”`));
      }
      actions.push(h("button", { class: "btn", onclick: () => deleteUndoably(flag) }, "Delete"));
      actions.push(h("button", { class: "btn", onclick: () => act(() => api("POST", `/projects/${state.id}/review/fine`,
        { sample_id: flag.sample_id, reason: flag.reason }), "Marked as fine.") }, "It's fine"));
      const pictures = [labelled(thumbnail(state, flag.sample_id, 72), `this one, in “${flag.label}”`)];
      if (flag.duplicate_of_id) pictures.push(labelled(thumbnail(state, flag.duplicate_of_id, 72), `in “${flag.voters?.[0]?.label ?? flag.label}”`));
      const evidence = flag.reason === "mislabel" && flag.voters
        ? h("div", { class: "thumb-row voters", "aria-label": "The samples that voted" }, ...flag.voters.filter((v) => v.sample_id).map((v) =>
          labelled(thumbnail(state, v.sample_id, 56), `${v.label} · ${Math.round(v.similarity * 100)}%`)))
        : null;
      return h("li", { class: "flag", "data-reason": flag.reason, "data-sample": String(flag.sample_id) },
        h("div", { class: "flag-pictures" }, ...pictures),
        h("div", {}, h("p", { class: "small", text: REASONS[flag.reason](flag) }), ...(evidence ? [evidence] : []),
          h("div", { class: "row" }, ...actions)));
    }));
  }

  // Every change made from the review can be taken back: the last one is offered as "Undo".
  const undoRow = h("p", { class: "small undo", id: "review-undo", "aria-live": "polite" });
  element.insertBefore(undoRow, hints);

  function offerUndo(message, undo, undoneMessage) {
    const button = h("button", { class: "btn", type: "button" }, "Undo");
    button.addEventListener("click", async () => {
      undoRow.replaceChildren();
      const done = await attempt(undo, undoneMessage);
      if (done !== undefined) await state.refresh();
      await refresh();
    });
    undoRow.replaceChildren(h("span", { text: `${message} ` }), button);
  }

  async function act(action, message, undo = null, undoneMessage = "") {
    const done = await attempt(action, message); // undefined when it failed (a 204 gives null)
    if (done !== undefined) {
      if (undo) offerUndo(message, undo, undoneMessage);
      await state.refresh();
    }
    await refresh();
  }

  // A deleted sample comes back from the bytes kept here (a new sample of the same class and picture).
  async function deleteUndoably(flag) {
    const kept = await fetch(`/api/projects/${state.id}/samples/${flag.sample_id}/image`, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.blob() : null)).catch(() => null);
    const classId = Object.fromEntries(state.project.classes.map((c) => [c.name, c.id]))[flag.label];
    const restore = kept && classId !== undefined ? () => {
      const form = new FormData();
      form.append("files", kept, `sample-${flag.sample_id}`);
      return api("POST", `/projects/${state.id}/classes/${classId}/samples`, form);
    } : null;
    await act(() => api("DELETE", `/projects/${state.id}/samples/${flag.sample_id}`), "Sample deleted.", restore, `Sample restored to “${flag.label}”.`);
  }

  run.addEventListener("click", refresh);
  return { element, refresh };
}
