// The Tidings console: the live parts of the server-rendered pages (console/pages.py).
// Values from events are only ever set with textContent: payloads are shown, never interpreted.
"use strict";
(() => {
  const body = document.body;
  const MAX_ROWS = 500; // rows kept on a page; older ones are removed
  const MAX_HELD = 2000; // events held while paused; beyond, counted and shown as a gap
  const ENVELOPE = new Set(["kind", "time", "at", "product", "node", "users", "user_id", "data", "payload"]);

  const pages = { login, index, stream: live, timeline: live };
  (pages[body.dataset.page] || (() => {}))();

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (r.status === 401) {
      location.href = "/console/login";
      throw new Error("signed out");
    }
    if (!r.ok) throw new Error(`${r.status} ${((await r.json().catch(() => ({}))).error) || ""}`);
    return r.json();
  }

  function login() {
    // A link printed at start carries the token in the fragment (never sent to a server, never in a log).
    const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
    if (!m) return;
    history.replaceState(null, "", location.pathname);
    document.getElementById("token").value = decodeURIComponent(m[1]);
    document.getElementById("login-form").submit();
  }

  async function index() {
    const data = await getJSON("/console/api/scopes");
    const apps = document.getElementById("apps");
    const instances = document.getElementById("instances");
    const select = document.getElementById("user-scope");
    for (const a of data.apps) {
      const href = `/console/apps/${encodeURIComponent(a.id)}`;
      apps.append(el("tr", {}, el("td", {}, el("a", { href, text: a.id })), el("td", { text: a.name || "" }),
        el("td", { text: a.key }), el("td", { text: a.beams_instance || "" })));
      select.append(el("option", { value: href, text: `App ${a.id}` }));
    }
    for (const i of data.instances) {
      const href = `/console/instances/${encodeURIComponent(i.id)}`;
      instances.append(el("tr", {}, el("td", {}, el("a", { href, text: i.id })), el("td", { text: i.name || "" })));
      select.append(el("option", { value: href, text: `Instance ${i.id}` }));
    }
    document.getElementById("user-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const user = document.getElementById("user-id").value.trim();
      if (user) location.href = `${select.value}/users/${encodeURIComponent(user)}`;
    });
  }

  function time(r) {
    const d = new Date(r.at * 1000);
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  function pretty(value) {
    if (typeof value === "string") {
      try { return JSON.stringify(JSON.parse(value), null, 2); } catch { return value; }
    }
    return JSON.stringify(value, null, 2);
  }

  function usersOf(r) {
    const out = [];
    if (typeof r.user_id === "string") out.push(r.user_id);
    for (const u of r.users || []) if (typeof u === "string" && !out.includes(u)) out.push(u);
    return out;
  }

  function row(r, base) {
    if (r.kind === "gap") {
      return el("li", { class: "gap", "data-kind": "gap",
        text: `${r.missed} event(s) missed here: the page could not keep up (the server kept its memory bounded)` });
    }
    const li = el("li", { class: `ev product-${r.product}`, "data-kind": r.kind });
    const head = el("div", { class: "head" },
      el("time", { datetime: r.time, text: time(r) }),
      el("span", { class: "kind", text: r.kind }));
    for (const u of usersOf(r)) {
      head.append(el("a", { class: "user", href: `${base}/users/${encodeURIComponent(u)}`, text: u,
        "aria-label": `Timeline of user ${u}` }));
    }
    const fields = el("span", { class: "fields" });
    for (const [k, v] of Object.entries(r)) {
      if (ENVELOPE.has(k) || v === null) continue;
      fields.append(el("span", { class: "field" }, el("b", { text: `${k} ` }),
        typeof v === "object" ? JSON.stringify(v) : String(v)));
    }
    head.append(fields, el("span", { class: "node", text: r.node || "" }));
    li.append(head);
    for (const k of ["data", "payload"]) {
      if (r[k] !== undefined && r[k] !== null) li.append(el("pre", { class: "payload", text: pretty(r[k]) }));
    }
    return li;
  }

  function matches(r, q) {
    if (r.kind === "gap") return true;
    const kinds = (q.get("kind") || "").split(",").map((k) => k.trim()).filter(Boolean);
    if (kinds.length && !kinds.includes(r.kind)) return false;
    if (q.get("event") && r.event !== q.get("event")) return false;
    const prefix = q.get("channel");
    if (prefix) {
      const names = [r.channel, ...(r.channels || [])].filter((c) => typeof c === "string");
      if (!names.some((c) => c.startsWith(prefix))) return false;
    }
    return !q.get("user") || usersOf(r).includes(q.get("user"));
  }

  function live() {
    const { api, base, user } = body.dataset;
    const list = document.getElementById("events");
    const status = document.getElementById("status");
    const form = document.getElementById("filters");
    const pause = document.getElementById("pause");
    let source = null;
    let paused = false;
    let held = [];
    let heldMissed = 0;

    const setStatus = (text) => { status.textContent = text; };
    const query = () => {
      const p = new URLSearchParams();
      for (const input of form.querySelectorAll("input[name]")) {
        if (input.value.trim()) p.set(input.name, input.value.trim());
      }
      if (user) p.set("user", user);
      return p;
    };
    const show = (r) => {
      list.prepend(row(r, base));
      while (list.children.length > MAX_ROWS) list.lastElementChild.remove();
    };
    const receive = (r) => {
      if (!paused) return show(r);
      if (held.length < MAX_HELD) held.push(r);
      else heldMissed += r.kind === "gap" ? r.missed : 1;
      setStatus(`paused (${held.length + heldMissed} new)`);
    };
    const connect = () => {
      if (source) source.close();
      setStatus("connecting");
      source = new EventSource(`${api}/stream?${query()}`);
      source.onopen = () => setStatus(paused ? "paused" : "live");
      source.onerror = () => setStatus("reconnecting");
      source.onmessage = (m) => {
        let r;
        try { r = JSON.parse(m.data); } catch { return; }
        receive(r);
      };
    };
    const load = async () => {
      if (!body.dataset.timeline) return;
      const t = await getJSON(body.dataset.timeline);
      facts(t);
      const q = query();
      for (const r of t.events.slice().reverse()) if (matches(r, q)) show(r);
    };

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      setStatus("connecting");
      list.replaceChildren();
      await load();
      connect();
    });
    pause.addEventListener("click", () => {
      paused = !paused;
      pause.textContent = paused ? "Resume" : "Pause";
      pause.setAttribute("aria-pressed", String(paused));
      if (!paused) {
        if (heldMissed) show({ kind: "gap", missed: heldMissed });
        for (const r of held) show(r);
        held = [];
        heldMissed = 0;
      }
      setStatus(paused ? "paused" : "live");
    });
    document.getElementById("clear").addEventListener("click", () => list.replaceChildren());
    load().then(connect, (err) => { setStatus(`error: ${err.message}`); connect(); });
  }

  function facts(t) {
    const dl = document.getElementById("facts");
    dl.replaceChildren();
    const add = (name, value) => dl.append(el("dt", { text: name }), el("dd", { text: value }));
    if (t.online !== undefined) add("Signed in", t.online ? "yes (online now)" : "no (offline)");
    if (t.connections_here) {
      add("Connections on this node", t.connections_here.length
        ? t.connections_here.map((c) => `${c.socket_id} [${c.channels.join(", ")}]`).join("; ") : "none");
    }
    if (t.mailbox) {
      // Oldest first, the order of the replay; payloads are shown as they were sent.
      const kept = t.mailbox.events.map((k) => `${k.event} ${k.data} (expires ${new Date(k.expires_at * 1000).toISOString()})`);
      add("Mailbox", `${t.mailbox.kept} event(s) kept${kept.length ? ": " + kept.join("; ") : ""}`);
    }
    if (t.beams_instance) add("Beams instance", t.beams_instance);
    const table = document.getElementById("devices-table");
    const rows = document.getElementById("devices");
    rows.replaceChildren();
    if (!t.devices) return;
    table.hidden = false;
    for (const d of t.devices) {
      const last = d.last_result
        ? `${d.last_result.outcome}${d.last_result.status ? ` (${d.last_result.status})` : ""} · ${d.last_result.publish_id}`
        : "none yet";
      rows.append(el("tr", {}, el("td", { text: d.id }), el("td", { text: d.platform }), el("td", { text: last })));
    }
    if (!t.devices.length) rows.append(el("tr", {}, el("td", { colspan: "3", text: "no devices" })));
  }
})();
