// Small SVG charts for the dashboard: line and bar charts, and the workflow graph.
const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#2f6fb3", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#b8860b"];
const STATE_COLORS = {
  SUCCESS: "#d4f1dc", FAILURE: "#f8d3cf", REVOKED: "#e6e6e6", REJECTED: "#e6e6e6",
  STARTED: "#d6e6fa", RECEIVED: "#fdf2c9", RETRY: "#fde3c4", PENDING: "#f4f4f4",
};

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function frame(width, height, id) {
  return s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart", id, role: "img" });
}

function clock(epoch) {
  const d = new Date(epoch * 1000);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** series: {label: [[x, y], ...]} drawn as lines with a legend. */
export function drawLines(series, { width = 720, height = 220, axes = true, id } = {}) {
  const svg = frame(width, height, id);
  const points = Object.values(series).flat();
  if (!points.length) {
    svg.append(s("text", { x: 8, y: height / 2, class: "empty" }, "no data"));
    return svg;
  }
  const pad = axes ? 36 : 2;
  const xs = points.map((p) => p[0]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const y1 = Math.max(1, ...points.map((p) => p[1]));
  const X = (x) => pad + ((x - x0) / (x1 - x0)) * (width - pad - 8);
  const Y = (y) => height - pad / 1.5 - (y / y1) * (height - pad);
  if (axes) {
    svg.append(s("line", { x1: pad, y1: Y(0), x2: width - 8, y2: Y(0), class: "axis" }));
    svg.append(s("text", { x: 2, y: Y(y1) + 10, class: "tick" }, String(y1)));
    svg.append(s("text", { x: pad, y: height - 2, class: "tick" }, clock(x0)));
    svg.append(s("text", { x: width - 48, y: height - 2, class: "tick" }, clock(x1)));
  }
  Object.entries(series).forEach(([label, values], i) => {
    const color = COLORS[i % COLORS.length];
    const d = values.map(([x, y], j) => `${j ? "L" : "M"}${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" ");
    svg.append(s("path", { d, fill: "none", stroke: color, "stroke-width": 1.6 }, s("title", {}, label)));
    if (axes) svg.append(s("text", { x: pad + 8 + (i % 4) * 170, y: 12 + Math.floor(i / 4) * 12, fill: color, class: "legend" }, label));
  });
  return svg;
}

/** values: [[x, y], ...] drawn as bars. */
export function drawBars(values, { width = 720, height = 160, id } = {}) {
  const svg = frame(width, height, id);
  const y1 = Math.max(1, ...values.map((v) => v[1]));
  const w = (width - 40) / Math.max(1, values.length);
  values.forEach(([x, y], i) => {
    const barHeight = (y / y1) * (height - 30);
    svg.append(s("rect", { x: 36 + i * w, y: height - 18 - barHeight, width: Math.max(1, w - 1), height: barHeight, class: "bar-failure" }, s("title", {}, `${clock(x)}: ${y}`)));
  });
  svg.append(s("text", { x: 2, y: 12, class: "tick" }, String(y1)));
  if (values.length) {
    svg.append(s("text", { x: 36, y: height - 2, class: "tick" }, clock(values[0][0])));
    svg.append(s("text", { x: width - 48, y: height - 2, class: "tick" }, clock(values[values.length - 1][0])));
  }
  return svg;
}

/** The workflow graph: a column per depth, a box per task, a line per parent link. */
export function drawWorkflow(graph, selected) {
  const columns = new Map();
  for (const node of graph.nodes) {
    if (!columns.has(node.depth)) columns.set(node.depth, []);
    columns.get(node.depth).push(node);
  }
  const boxW = 190, boxH = 46, gapX = 60, gapY = 16;
  const height = Math.max(...[...columns.values()].map((c) => c.length)) * (boxH + gapY) + gapY;
  const width = columns.size * (boxW + gapX) + gapX;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "workflow", id: "workflow-graph" });
  const at = new Map();
  for (const [depth, nodes] of columns) {
    nodes.forEach((node, i) => at.set(node.uuid, { x: gapX / 2 + depth * (boxW + gapX), y: gapY + i * (boxH + gapY) }));
  }
  const groupIndex = new Map(Object.keys(graph.groups).map((g, i) => [g, i]));
  for (const edge of graph.edges) {
    const a = at.get(edge.from), b = at.get(edge.to);
    if (!a || !b) continue;
    svg.append(s("path", { d: `M${a.x + boxW},${a.y + boxH / 2} C${a.x + boxW + gapX / 2},${a.y + boxH / 2} ${b.x - gapX / 2},${b.y + boxH / 2} ${b.x},${b.y + boxH / 2}`, class: "edge" }));
  }
  for (const node of graph.nodes) {
    const { x, y } = at.get(node.uuid);
    const link = s("a", { href: `/task/${node.uuid}`, class: "node", "data-uuid": node.uuid, "data-state": node.state });
    link.append(s("rect", { x, y, width: boxW, height: boxH, rx: 6, fill: STATE_COLORS[node.state] || "#fff", class: node.uuid === selected ? "selected" : "" }));
    if (node.group_id) {
      const color = COLORS[groupIndex.get(node.group_id) % COLORS.length];
      link.append(s("rect", { x, y, width: 5, height: boxH, fill: color }, s("title", {}, `group ${node.group_id}`)));
    }
    link.append(s("text", { x: x + 10, y: y + 18, class: "node-name" }, (node.name || "?").slice(-26)));
    link.append(s("text", { x: x + 10, y: y + 36, class: "node-state" }, `${node.state} · ${node.uuid.slice(0, 8)}`));
    link.append(s("title", {}, `${node.name} ${node.uuid} ${node.state}`));
    svg.append(link);
  }
  return svg;
}
