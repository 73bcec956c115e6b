// celeriac dashboard: plain modern JavaScript, no dependencies, nothing loaded from elsewhere.
// Every value from the API goes into the page through textContent/attributes (never innerHTML).
import { drawBars, drawLines, drawWorkflow } from "./charts.js";

const READY = new Set(["SUCCESS", "FAILURE", "REVOKED", "REJECTED"]);
const STATES = ["PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED", "REJECTED"];
const body = document.body;
const content = () => document.getElementById("content");
let canAct = false;

// -- helpers ---------------------------------------------------------------------------------
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)celeriac_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", ...options, headers: { ...(options.headers || {}) } };
  if (init.method && init.method !== "GET") {
    init.headers["X-CSRF-Token"] = csrfToken();
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.json || {});
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

const act = (path, json) => api(path, { method: "POST", json });

function when(epoch) {
  if (typeof epoch !== "number") return "";
  const d = new Date(epoch * 1000);
  return d.toLocaleString(undefined, { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function seconds(value) {
  if (typeof value !== "number") return "";
  return value < 1 ? `${(value * 1000).toFixed(1)} ms` : `${value.toFixed(3)} s`;
}

function megabytes(bytes) {
  return typeof bytes === "number" ? `${(bytes / 1048576).toFixed(1)} MB` : "";
}

function badge(state) {
  return h("span", { class: `state state-${(state || "").toLowerCase()}` }, state || "");
}

function notice(text, kind = "info") {
  let box = document.getElementById("notice");
  if (!box) {
    box = h("div", { id: "notice", role: "status" });
    document.getElementById("main").prepend(box);
  }
  box.className = `notice notice-${kind}`;
  box.textContent = text;
}

async function run(label, action) {
  try {
    const reply = await action();
    notice(`${label}: ${reply.ok || reply.message || reply["task-id"] || "done"}`, "ok");
    return reply;
  } catch (error) {
    notice(`${label} failed: ${error.message}`, "error");
    return null;
  }
}

function button(label, onclick, extra = {}) {
  return h("button", { type: "button", class: "act", onclick, ...extra }, label);
}

// -- live stream -----------------------------------------------------------------------------
const listeners = [];
function live(listener) {
  listeners.push(listener);
}
function connect() {
  const dot = document.getElementById("live");
  const source = new EventSource("/api/v1/stream");
  source.onopen = () => dot.classList.add("on");
  source.onerror = () => dot.classList.remove("on");
  source.onmessage = (message) => {
    const update = JSON.parse(message.data);
    for (const listener of listeners) listener(update);
  };
}

// -- tasks -----------------------------------------------------------------------------------
const TASK_COLUMNS = [
  ["name", "Name", "name"],
  ["uuid", "UUID", null],
  ["state", "State", "state"],
  ["args", "args", null],
  ["kwargs", "kwargs", null],
  ["hostname", "Worker", "hostname"],
  ["received", "Received", null],
  ["started", "Started", null],
  ["runtime", "Runtime", "runtime"],
];

function taskCells(task) {
  return [
    h("td", {}, task.name || ""),
    h("td", { class: "mono" }, h("a", { href: `/task/${encodeURIComponent(task.uuid)}` }, task.uuid)),
    h("td", {}, badge(task.state)),
    h("td", { class: "mono clip" }, task.args || ""),
    h("td", { class: "mono clip" }, task.kwargs || ""),
    h("td", {}, task.hostname || ""),
    h("td", {}, when(task.received)),
    h("td", {}, when(task.started)),
    h("td", { class: "num" }, seconds(task.runtime)),
  ];
}

function matches(task, filters) {
  if (filters.state && !filters.state.split(",").includes(task.state)) return false;
  if (filters.name && task.name !== filters.name) return false;
  if (filters.hostname && task.hostname !== filters.hostname) return false;
  if (filters.queue && task.queue !== filters.queue) return false;
  if (filters.search) {
    const text = [task.args, task.kwargs, task.uuid].join(" ");
    if (!text.includes(filters.search)) return false;
  }
  if (filters.since || filters.until) return false; // a time window is not live
  return true;
}

async function tasksPage() {
  const params = new URLSearchParams(location.search);
  const filters = {
    state: params.get("state") || "",
    name: params.get("name") || "",
    hostname: params.get("hostname") || "",
    queue: params.get("queue") || "",
    search: params.get("search") || "",
    since: params.get("since") || "",
    until: params.get("until") || "",
    sort: params.get("sort") || "-timestamp",
    limit: Number(params.get("limit") || 50),
    offset: Number(params.get("offset") || 0),
  };
  const menus = await api("/api/v1/tasks/menus");
  const select = (key, label, values) =>
    h("label", {}, label, " ",
      h("select", { name: key, id: `filter-${key}` },
        h("option", { value: "" }, "any"),
        values.map((v) => h("option", { value: v, selected: v === filters[key] }, v))));
  const form = h("form", { class: "filters", id: "filters" },
    select("state", "State", STATES),
    select("name", "Task", menus.name),
    select("hostname", "Worker", menus.hostname),
    select("queue", "Queue", menus.queue),
    h("label", {}, "Search ", h("input", { name: "search", id: "filter-search", value: filters.search, placeholder: "args, kwargs, result" })),
    h("label", {}, "From ", h("input", { type: "datetime-local", name: "since", value: filters.since })),
    h("label", {}, "To ", h("input", { type: "datetime-local", name: "until", value: filters.until })),
    h("button", { type: "submit", id: "apply-filters" }, "Filter"),
    h("a", { href: "/tasks" }, "Clear"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) next.set(key, value);
    if (filters.sort !== "-timestamp") next.set("sort", filters.sort);
    location.search = next.toString();
  });
  const headRow = h("tr", {}, TASK_COLUMNS.map(([key, label, sortKey]) => {
    if (!sortKey) return h("th", {}, label);
    const current = filters.sort.replace("-", "") === sortKey;
    const arrow = current ? (filters.sort.startsWith("-") ? " ▼" : " ▲") : "";
    return h("th", {}, h("a", { href: "#", class: "sort", dataset: { sort: sortKey }, onclick: (event) => {
      event.preventDefault();
      const next = new URLSearchParams(location.search);
      next.set("sort", current && filters.sort.startsWith("-") ? sortKey : `-${sortKey}`);
      next.delete("offset");
      location.search = next.toString();
    } }, label + arrow));
  }));
  const tbody = h("tbody", { id: "task-rows" });
  const summary = h("p", { id: "task-summary", class: "summary" });
  const pager = h("div", { class: "pager" });
  content().replaceChildren(form, summary, h("table", { class: "tasks", id: "tasks-table" }, h("thead", {}, headRow), tbody), pager);

  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value !== "" && value !== 0) query.set(key, value);
  for (const key of ["since", "until"]) if (filters[key]) query.set(key, new Date(filters[key]).toISOString());
  query.set("limit", String(filters.limit));
  const page = await api(`/api/v1/tasks?${query}`);
  const rows = new Map();
  const addRow = (task, top = false) => {
    const row = h("tr", { dataset: { uuid: task.uuid }, class: `row-${(task.state || "").toLowerCase()}` }, taskCells(task));
    rows.set(task.uuid, row);
    if (top) tbody.prepend(row);
    else tbody.append(row);
  };
  page.tasks.forEach((task) => addRow(task));
  let total = page.total;
  const showSummary = () => {
    summary.textContent = `${total.toLocaleString()}${page.total_capped ? "+" : ""} tasks · showing ${filters.offset + 1}–${filters.offset + rows.size}`;
  };
  showSummary();
  const go = (offset) => {
    const next = new URLSearchParams(location.search);
    next.set("offset", String(Math.max(0, offset)));
    location.search = next.toString();
  };
  pager.append(
    button("← Newer", () => go(filters.offset - filters.limit), { disabled: filters.offset === 0, class: "" }),
    button("Older →", () => go(filters.offset + filters.limit), { disabled: page.tasks.length < filters.limit, class: "" }));
  const liveTop = filters.offset === 0 && filters.sort === "-timestamp";
  live((update) => {
    if (update.type === "resync") return void location.reload();
    if (update.type !== "tasks") return;
    for (const task of update.tasks) {
      const existing = rows.get(task.uuid);
      if (existing) {
        existing.replaceChildren(...taskCells(task));
        existing.className = `row-${(task.state || "").toLowerCase()}`;
        if (liveTop) tbody.prepend(existing);
      } else if (liveTop && matches(task, filters)) {
        addRow(task, true);
        total += 1;
        if (rows.size > filters.limit) {
          const last = tbody.lastElementChild;
          rows.delete(last.dataset.uuid);
          last.remove();
        }
      }
    }
    showSummary();
  });
}

// -- one task --------------------------------------------------------------------------------
async function taskPage(uuid) {
  let asked = 0;
  let shown = 0;
  const render = async () => {
    const mine = ++asked;
    let detail;
    try {
      detail = await api(`/api/v1/tasks/${encodeURIComponent(uuid)}`);
    } catch (error) {
      content().replaceChildren(h("p", {}, `Task ${uuid}: ${error.message}`));
      return null;
    }
    if (mine < shown) return detail.task; // an older answer overtaken by a newer one
    shown = mine;
    const task = detail.task;
    const field = (label, value, cls = "") => h("tr", {}, h("th", {}, label), h("td", { class: cls }, value ?? ""));
    const info = h("table", { class: "fields" },
      field("Name", task.name),
      field("UUID", task.uuid, "mono"),
      field("State", badge(task.state)),
      field("Worker", task.hostname),
      field("Queue", task.queue),
      field("args", task.args, "mono"),
      field("kwargs", task.kwargs, "mono"),
      field("Retries", task.retries),
      field("Wait (received → started)", seconds(detail.wait)),
      field("Runtime", seconds(detail.runtime)),
      typeof task.rss_delta === "number" ? field("Worker memory (RSS after, change)", `${megabytes(task.rss)}, ${task.rss_delta >= 0 ? "+" : ""}${megabytes(task.rss_delta)}`) : "",
      field("Result", task.result, "mono"),
      field("Exception", task.exception, "mono"),
      field("Parent", task.parent_id ? h("a", { href: `/task/${task.parent_id}` }, task.parent_id) : ""),
      field("Root", task.root_id ? h("a", { href: `/task/${task.root_id}` }, task.root_id) : ""),
      field("Workflow", h("a", { href: `/workflow/${task.uuid}`, id: "workflow-link" }, "graph")));
    const timeline = h("ol", { class: "timeline", id: "timeline" }, detail.timeline.map((step, i) => {
      const previous = i ? detail.timeline[i - 1].at : null;
      const delta = previous !== null ? step.at - previous : null;
      return h("li", {}, badge(step.state), " ", when(step.at), delta !== null && delta >= 0 ? ` (+${seconds(delta)})` : "");
    }));
    const progress = detail.progress;
    // The result backend may already know the outcome the events have not brought yet.
    const state = progress && READY.has(progress.state) ? progress.state : task.state;
    const bar = h("div", { class: "progress", id: "progress" },
      h("div", { class: "bar", id: "progress-bar" }),
      h("span", { id: "progress-text" }, progress && progress.total ? `${progress.current} / ${progress.total}` : READY.has(state) ? "done" : "no progress reported"));
    const percent = progress && progress.total ? Math.min(100, (100 * progress.current) / progress.total) : state === "SUCCESS" ? 100 : 0;
    bar.firstChild.style.width = `${percent}%`;
    bar.dataset.percent = String(Math.round(percent));
    const actions = h("div", { class: "actions" },
      button("Revoke", () => run("Revoke", () => act(`/api/v1/tasks/${uuid}/revoke`)), { id: "revoke" }),
      button("Terminate", () => run("Terminate", () => act(`/api/v1/tasks/${uuid}/terminate`, { signal: "SIGTERM" })), { id: "terminate" }),
      button("Re-run", async () => {
        const reply = await run("Re-run", () => act(`/api/v1/tasks/${uuid}/rerun`));
        if (reply && reply["task-id"]) location.href = `/task/${reply["task-id"]}`;
      }, { id: "rerun", disabled: !READY.has(task.state) }));
    const children = detail.children.length
      ? h("ul", {}, detail.children.map((c) => h("li", {}, h("a", { href: `/task/${c.uuid}` }, c.name || c.uuid), " ", badge(c.state))))
      : h("p", {}, "none");
    content().replaceChildren(
      h("section", {}, h("h2", {}, "Progress"), bar),
      canAct ? actions : h("p", { class: "muted" }, "Read-only: actions are hidden."),
      info,
      h("section", {}, h("h2", {}, "Timeline"), timeline),
      h("section", {}, h("h2", {}, "Children"), children),
      task.traceback ? h("section", {}, h("h2", {}, "Traceback"), h("pre", { class: "traceback" }, task.traceback)) : "");
    return task;
  };
  const task = await render();
  let timer = null;
  const poll = async () => {
    const current = await render();
    if (!current || READY.has(current.state)) clearInterval(timer);
  };
  if (task && !READY.has(task.state)) timer = setInterval(poll, 1000);
  live((update) => {
    if (update.type === "tasks" && update.tasks.some((t) => t.uuid === uuid)) render();
  });
}

// -- workers ---------------------------------------------------------------------------------
async function workersPage() {
  const render = async (refresh = false) => {
    const data = await api(`/api/v1/workers${refresh ? "?refresh=1" : ""}`);
    const rows = data.workers.map((w) => {
      const host = encodeURIComponent(w.hostname);
      const queueInput = h("input", { placeholder: "queue", size: 10, class: "queue-input" });
      const taskInput = h("input", { placeholder: "task name", size: 14, class: "task-input" });
      const rateInput = h("input", { placeholder: "10/m", size: 6, class: "rate-input" });
      const command = (label, action, args) => button(label, () => run(`${label} ${w.hostname}`, () => act(`/api/v1/workers/${host}/${action}`, args ? args() : {})));
      const actions = canAct ? h("div", { class: "actions" },
        command("Shut down", "shutdown"),
        command("Pool +1", "pool_grow", () => ({ n: 1 })),
        command("Pool −1", "pool_shrink", () => ({ n: 1 })),
        queueInput,
        command("Add consumer", "add_consumer", () => ({ queue: queueInput.value })),
        command("Cancel consumer", "cancel_consumer", () => ({ queue: queueInput.value })),
        taskInput, rateInput,
        command("Set rate limit", "rate_limit", () => ({ task_name: taskInput.value, rate_limit: rateInput.value || null }))) : "";
      const counts = w.task_counts || {};
      return [
        h("tr", { dataset: { hostname: w.hostname } },
          h("td", {}, h("span", { class: `dot ${w.status}` }), " ", w.status),
          h("td", {}, w.hostname),
          h("td", {}, w.pool && w.pool.implementation ? String(w.pool.implementation).split(":").pop() : ""),
          h("td", { class: "num" }, w.concurrency ?? ""),
          h("td", { class: "num" }, w.processed),
          h("td", { class: "num" }, w.active),
          h("td", { class: "num" }, counts.succeeded || 0),
          h("td", { class: "num" }, counts.failed || 0),
          h("td", {}, (w.loadavg || []).join(" ")),
          h("td", {}, (w.queues || []).join(", ")),
          h("td", {}, [w.sw_ident, w.sw_ver].filter(Boolean).join(" "))),
        actions ? h("tr", { class: "worker-actions" }, h("td", { colspan: 11 }, actions)) : "",
      ];
    });
    content().replaceChildren(
      h("p", {}, button("Refresh now", () => render(true), { class: "" })),
      h("table", { class: "workers", id: "workers-table" },
        h("thead", {}, h("tr", {}, ["Status", "Worker", "Pool", "Concurrency", "Processed", "Active", "Succeeded", "Failed", "Load", "Queues", "Software"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows.flat())));
  };
  await render();
  let pending = false;
  live((update) => {
    if (update.type === "worker" && !pending && !document.activeElement.matches("input")) {
      pending = true;
      setTimeout(() => { pending = false; render(); }, 1000);
    }
  });
}

// -- workflow --------------------------------------------------------------------------------
async function workflowPage(uuid) {
  const render = async () => {
    const graph = await api(`/api/v1/tasks/${encodeURIComponent(uuid)}/graph`);
    const counts = {};
    for (const node of graph.nodes) counts[node.state] = (counts[node.state] || 0) + 1;
    const groups = Object.entries(graph.groups).map(([id, members]) => {
      const done = members.filter((m) => graph.nodes.find((n) => n.uuid === m && READY.has(n.state))).length;
      return h("li", {}, `group ${id.slice(0, 8)}: ${done}/${members.length} finished`);
    });
    content().replaceChildren(
      h("p", {}, `${graph.nodes.length} tasks · `, Object.entries(counts).map(([s, n]) => [badge(s), ` ${n} `])),
      drawWorkflow(graph, uuid),
      groups.length ? h("ul", { class: "groups" }, groups) : "");
    return graph;
  };
  await render();
  let pending = false;
  live((update) => {
    if (update.type === "tasks" && !pending) {
      pending = true;
      setTimeout(() => { pending = false; render(); }, 1000);
    }
  });
}

// -- queues ----------------------------------------------------------------------------------
function deadLettersNote(letters) {
  if (!letters.supported) return "This broker keeps no dead letters celeriac can read.";
  if (!letters.actions) return "This broker cannot requeue or discard dead letters; they are shown read-only.";
  if (!canAct) return "Read-only: requeue and discard are hidden.";
  return "Requeue puts a message back on its queue as it was (same id and arguments); discard deletes it.";
}

async function queuesPage() {
  let deadQueue = new URLSearchParams(location.search).get("dead_queue") || "";
  const selected = new Set();
  let render = null;
  const settle = async (verb, ids) => {
    if (!ids.length) return;
    if (verb === "discard" && !confirm(`Discard ${ids.length} dead letter(s) for good?`)) return;
    await run(`${verb === "requeue" ? "Requeue" : "Discard"} ${ids.length} dead letter(s)`,
      () => act(`/api/v1/dead-letters/${verb}`, { ids }));
    ids.forEach((id) => selected.delete(id));
    await render();
  };
  const pickQueue = (event) => {
    deadQueue = event.target.value;
    const next = new URLSearchParams(location.search);
    if (deadQueue) next.set("dead_queue", deadQueue);
    else next.delete("dead_queue");
    history.replaceState(null, "", `${location.pathname}${next.size ? "?" : ""}${next}`);
    render();
  };
  render = async () => {
    const only = deadQueue ? `&queue=${encodeURIComponent(deadQueue)}` : "";
    const [data, series, letters] = await Promise.all([
      api("/api/v1/queues"),
      api(`/api/v1/graphs?since=${Date.now() / 1000 - 3600}&buckets=1`),
      api(`/api/v1/dead-letters?limit=100${only}`),
    ]);
    const table = h("table", { id: "queues-table" },
      h("thead", {}, h("tr", {}, ["Queue", "Length", "Consumers", "Last hour"].map((t) => h("th", {}, t)))),
      h("tbody", {}, data.queues.map((q) => h("tr", { dataset: { queue: q.name } },
        h("td", {}, q.name), h("td", { class: "num" }, q.length ?? "?"), h("td", {}, q.consumers.join(", ")),
        h("td", {}, drawLines({ [q.name]: (series.queues[q.name] || []) }, { width: 240, height: 40, axes: false }))))));
    const can = canAct && letters.actions;
    const listed = new Set(letters.entries.map((d) => d.id));
    for (const id of [...selected]) if (!listed.has(id)) selected.delete(id);
    const names = [...new Set([...data.queues.map((q) => q.name), ...letters.entries.map((d) => d.queue), deadQueue].filter(Boolean))].sort();
    const filter = h("label", {}, "Queue ", h("select", { id: "dead-queue", onchange: pickQueue },
      h("option", { value: "" }, "any"), names.map((n) => h("option", { value: n, selected: n === deadQueue }, n))));
    const rows = letters.entries.map((d) => h("tr", { dataset: { id: d.id || "", task: d.task_id || "" } },
      can ? h("td", {}, h("input", { type: "checkbox", class: "pick", "aria-label": "select", checked: selected.has(d.id),
        onchange: (e) => (e.target.checked ? selected.add(d.id) : selected.delete(d.id)) })) : "",
      h("td", {}, when(d.created_at)), h("td", {}, d.queue),
      h("td", { class: "mono" }, d.task_name || "", " ", d.task_id ? h("a", { href: `/task/${encodeURIComponent(d.task_id)}` }, d.task_id) : ""),
      h("td", {}, d.reason),
      can ? h("td", {}, h("div", { class: "actions row-actions" },
        button("Requeue", () => settle("requeue", [d.id]), { class: "act requeue" }),
        button("Discard", () => settle("discard", [d.id]), { class: "act discard" }))) : ""));
    const heads = [can ? "" : null, "When", "Queue", "Task", "Reason", can ? "" : null].filter((t) => t !== null);
    const dead = letters.entries.length
      ? h("table", { id: "dead-letters" }, h("thead", {}, h("tr", {}, heads.map((t) => h("th", {}, t)))), h("tbody", {}, rows))
      : h("p", { id: "no-dead-letters" }, "No dead letters.");
    const bulk = can && letters.entries.length ? h("div", { class: "actions" },
      button("Requeue selected", () => settle("requeue", [...selected]), { id: "requeue-selected" }),
      button("Discard selected", () => settle("discard", [...selected]), { id: "discard-selected" })) : "";
    content().replaceChildren(
      data.supported ? table : h("p", {}, "This broker cannot report queue lengths."),
      h("h2", {}, "Dead letters"),
      h("p", { class: "muted", id: "dead-letters-note" }, deadLettersNote(letters)),
      h("div", { class: "filters" }, filter),
      bulk,
      dead);
  };
  await render();
  setInterval(() => {
    if (!document.activeElement.matches("select")) render();
  }, 5000);
}

// -- graphs ----------------------------------------------------------------------------------
async function graphsPage() {
  const params = new URLSearchParams(location.search);
  const range = Number(params.get("range") || 3600);
  const picker = h("select", { id: "range", onchange: (e) => { params.set("range", e.target.value); location.search = params.toString(); } },
    [[900, "15 minutes"], [3600, "1 hour"], [21600, "6 hours"], [86400, "24 hours"], [604800, "7 days"]]
      .map(([v, l]) => h("option", { value: v, selected: v === range }, l)));
  const render = async () => {
    const until = Date.now() / 1000;
    const data = await api(`/api/v1/graphs?since=${until - range}&until=${until}&buckets=60`);
    const times = (values) => values.map((v, i) => [data.since + (i + 0.5) * data.step, v]);
    const throughput = Object.fromEntries(Object.entries(data.throughput).map(([n, vs]) => [n, times(vs)]));
    const runtimeRows = Object.entries(data.runtime).map(([name, r]) => h("tr", {}, h("td", {}, name),
      h("td", { class: "num" }, seconds(r.p50)), h("td", { class: "num" }, seconds(r.p95)), h("td", { class: "num" }, r.count)));
    content().replaceChildren(
      h("p", {}, h("label", {}, "Range ", picker)),
      h("section", {}, h("h2", {}, "Throughput per task (finished per bucket)"), drawLines(throughput, { id: "chart-throughput" })),
      h("section", {}, h("h2", {}, "Failures"), drawBars(times(data.failures), { id: "chart-failures" })),
      h("section", {}, h("h2", {}, "Runtime"), h("table", { id: "runtime-table" },
        h("thead", {}, h("tr", {}, ["Task", "p50", "p95", "Count"].map((t) => h("th", {}, t)))), h("tbody", {}, runtimeRows))),
      h("section", {}, h("h2", {}, "Queue length"), drawLines(data.queues, { id: "chart-queues" })));
  };
  await render();
  setInterval(render, 10000);
}

// -- start -----------------------------------------------------------------------------------
const PAGES = { tasks: tasksPage, task: taskPage, workers: workersPage, workflow: workflowPage, queues: queuesPage, graphs: graphsPage };

async function start() {
  try {
    const me = await api("/api/v1/me");
    canAct = me.can_act;
    document.getElementById("role").textContent = me.can_act ? "" : "read-only";
    body.classList.toggle("read-only", !canAct);
  } catch (error) {
    notice(error.message, "error");
  }
  connect();
  const page = PAGES[body.dataset.page];
  if (page) {
    try {
      await page(body.dataset.arg);
    } catch (error) {
      notice(error.message, "error");
    }
  }
  body.dataset.ready = "1";
}

start();
