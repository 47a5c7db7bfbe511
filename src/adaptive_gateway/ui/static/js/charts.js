// Tiny SVG charts (no library): a multi-series line chart over time and a horizontal bar chart.
import { esc } from "./core.js";

const W = 720, H = 220, PAD = { l: 56, r: 12, t: 12, b: 28 };

function ticks(max) {
  const step = max <= 0 ? 1 : Math.pow(10, Math.floor(Math.log10(max)));
  const n = Math.ceil(max / step);
  const unit = n > 5 ? step * 2 : step;
  const out = [];
  for (let v = 0; v <= max + 1e-12; v += unit) out.push(v);
  return out.length > 1 ? out : [0, max || 1];
}

// series: [{name, points: [[t (s), value], ...]}]; fmt formats a value.
export function lineChart(series, fmt = String) {
  const all = series.flatMap((s) => s.points);
  if (!all.length) return `<p class="muted">No data in this period yet.</p>`;
  const t0 = Math.min(...all.map((p) => p[0])), t1 = Math.max(...all.map((p) => p[0])) || t0 + 1;
  const ys = ticks(Math.max(...all.map((p) => p[1]), 0));
  const ymax = ys[ys.length - 1] || 1;
  const x = (t) => PAD.l + ((t - t0) / Math.max(t1 - t0, 1)) * (W - PAD.l - PAD.r);
  const y = (v) => H - PAD.b - (v / ymax) * (H - PAD.t - PAD.b);
  const grid = ys.map((v) => `<line class="axis" x1="${PAD.l}" x2="${W - PAD.r}" y1="${y(v)}" y2="${y(v)}"></line><text x="4" y="${y(v) + 3}">${esc(fmt(v))}</text>`).join("");
  const labels = [t0, (t0 + t1) / 2, t1].map((t) => `<text x="${x(t) - 18}" y="${H - 8}">${new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}</text>`).join("");
  const lines = series.map((s, i) => {
    const pts = s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    const dots = s.points.length <= 60 ? s.points.map((p) => `<circle class="point s${i % 6}" r="2.5" cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}"></circle>`).join("") : "";
    return `<polyline class="line s${i % 6}" points="${pts}"><title>${esc(s.name)}</title></polyline>${dots}`;
  }).join("");
  const legend = series.map((s, i) => `<span><span class="swatch s${i % 6}"></span>${esc(s.name)}</span>`).join(" ");
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img">${grid}${labels}${lines}</svg><div class="legend">${legend}</div>`;
}

// rows: [[label, value]]
export function barChart(rows, fmt = String) {
  if (!rows.length) return `<p class="muted">No data in this period yet.</p>`;
  const max = Math.max(...rows.map((r) => r[1]), 0) || 1;
  const rowH = 22, h = rows.length * rowH + 8, labelW = 220;
  const bars = rows.map(([label, v], i) => {
    const w = ((W - labelW - 90) * v) / max;
    return `<text x="4" y="${i * rowH + 16}">${esc(String(label).slice(0, 34))}</text>
      <rect class="bar" x="${labelW}" y="${i * rowH + 5}" width="${Math.max(w, 1).toFixed(1)}" height="14" rx="3"></rect>
      <text x="${labelW + w + 6}" y="${i * rowH + 16}">${esc(fmt(v))}</text>`;
  }).join("");
  return `<svg class="chart" viewBox="0 0 ${W} ${h}" height="${h}" role="img">${bars}</svg>`;
}
