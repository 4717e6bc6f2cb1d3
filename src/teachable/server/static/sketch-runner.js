// Runs inside the sketch frame (its own origin, the server's second port: see
// server/routes/sketches.py). It waits for the app's page (same host, the app's port) to send the code, loads the libraries the code needs from /vendor/, runs the code, starts
// p5.js in global mode, and reports console output and errors back to the page.
(function () {
  "use strict";
  const APP_PORT = "__APP_PORT__";
  let started = false;
  const report = (kind, text) => parent.postMessage({ teachableSketch: true, kind, text: String(text) }, "*");
  const describe = (value) => {
    if (typeof value === "string") return value;
    try { return JSON.stringify(value); } catch (_) { return String(value); }
  };
  // What a library prints (ml5.js's banner, TensorFlow.js probing for WebGPU) is not the student's:
  // it is sent marked as the library's (the page shows it apart, dimmed), told by the caller's file.
  const LIBRARY = /\/vendor\/([\w.-]+?)(\.min)?\.js/;
  const library = () => {
    const stack = new Error().stack || "";
    const caller = stack.split("\n")[3] || "";  // Error, library(), console.<level>(), then who called it
    const found = caller.match(LIBRARY);
    return found ? found[1] : null;
  };
  for (const level of ["log", "info", "warn", "error"]) {
    const original = console[level].bind(console);
    console[level] = (...args) => {
      original(...args);
      const from = library();
      report(from ? "library" : level, (from ? `${from}: ` : "") + args.map(describe).join(" "));
    };
  }
  window.addEventListener("error", (event) => report("error", `${event.message}${event.lineno ? ` (line ${event.lineno})` : ""}`));
  window.addEventListener("unhandledrejection", (event) => report("error", (event.reason && event.reason.message) || event.reason));

  // A sealed frame has no storage; libraries that reach for it (ml5.js, TensorFlow.js) get one
  // that lasts as long as the run instead of an exception.
  const memoryStorage = () => {
    const items = new Map();
    return { get length() { return items.size; }, key: (i) => [...items.keys()][i] ?? null,
      getItem: (k) => (items.has(String(k)) ? items.get(String(k)) : null), setItem: (k, v) => { items.set(String(k), String(v)); },
      removeItem: (k) => { items.delete(String(k)); }, clear: () => items.clear() };
  };
  for (const name of ["localStorage", "sessionStorage"]) {
    try { window[name]; } catch (_) { Object.defineProperty(window, name, { value: memoryStorage(), configurable: true }); }
  }

  const load = (name) => new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.crossOrigin = "anonymous";  // so its errors come with their message, not "Script error."
    script.src = `/vendor/${name}`;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`${name} could not be loaded from this server.`));
    document.head.appendChild(script);
  });

  window.addEventListener("message", async (event) => {
    if (event.source !== parent || !event.data || typeof event.data.code !== "string") return;
    const from = new URL(event.origin);
    if (from.hostname !== location.hostname || from.port !== APP_PORT || started) return;  // only the app's own page, once
    started = true;
    try {
      for (const name of event.data.libraries || []) await load(name);
      const script = document.createElement("script");
      script.textContent = event.data.code;
      document.body.appendChild(script);
      // p5.js starts a global-mode sketch (setup/draw) it finds when it loads; this one arrived later.
      if (window.p5 && !window.p5.instance && (typeof window.setup === "function" || typeof window.draw === "function")) {
        new window.p5();
      }
      report("started", "");
    } catch (error) {
      report("error", error.message);
    }
  });
  report("ready", "");
})();
