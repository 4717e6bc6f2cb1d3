// The page's only way to the server: the local /api, with its errors as thrown messages.

export async function api(method, path, body, { raw = false } = {}) {
  const options = { method, headers: {} };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(`/api${path}`, options);
  } catch (err) {
    throw new Error("Teachable's server is not answering. Is `teachable serve` still running?");
  }
  if (!response.ok) {
    let message = `The server answered ${response.status}.`;
    let answer = null;
    try { answer = await response.json(); message = answer.error || message; } catch (_) { /* not JSON */ }
    const error = new Error(message);
    error.status = response.status;
    error.answer = answer; // the whole JSON answer (an upload's per-file errors, say)
    throw error;
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

// The server's rules: project kinds (accepted files, special classes, minimum counts) and
// training settings (defaults and ranges). Asked once; the page hard-codes none of them.
let rules = null;
export async function loadRules() {
  if (!rules) {
    const [kinds, settings] = await Promise.all([api("GET", "/kinds"), api("GET", "/settings")]);
    rules = { kinds: Object.fromEntries(kinds.map((k) => [k.name, k])), kindList: kinds,
      settings: Object.fromEntries(settings.map((s) => [s.name, s])) };
  }
  return rules;
}

// How many samples a class needs before training (its kind's rule).
export function needOf(kind, info) {
  return info.name === kind.special_class ? kind.min_special : kind.min_per_class;
}

export function liveSocketURL(projectId, mode = "predict", explain = false) {
  const protocol = location.protocol === "https:" ? "wss" : "ws";
  return `${protocol}://${location.host}/api/projects/${projectId}/live?mode=${mode}${explain ? "&explain=true" : ""}`;
}
