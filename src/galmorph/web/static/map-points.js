// galmorph serve, the Map tab's points: their size on screen, a grid over them to find the
// one nearest a position (nearestRow), and their colours in drawing order (arrangePoints).
// Uses mapState, LUT, NO_VALUE, PLAIN and GRID from map-state.js.
"use strict";

function pointRadius(n) {
  if (n <= 2000) return 4;
  if (n <= 50000) return 2;
  if (n <= 300000) return 1;
  return 0;
}

// Pixel offsets of a disc of radius r, relative to its centre.
function discOffsets(r) {
  const offsets = [];
  for (let dy = -r; dy <= r; dy++) {
    for (let dx = -r; dx <= r; dx++) if (dx * dx + dy * dy <= r * r + r) offsets.push([dx, dy]);
  }
  return offsets;
}

// A uniform grid over the bounds: the rows of each cell, for finding the point under the pointer.
function buildGrid(xy, n, bounds) {
  const [x0, y0, x1, y1] = bounds;
  const sx = GRID / Math.max(x1 - x0, 1e-12), sy = GRID / Math.max(y1 - y0, 1e-12);
  const cell = new Int32Array(n).fill(-1);
  const counts = new Int32Array(GRID * GRID + 1);
  for (let i = 0; i < n; i++) {
    const x = xy[2 * i], y = xy[2 * i + 1];
    if (!(x === x && y === y)) continue;  // NaN: not on the map
    const cx = Math.min(GRID - 1, Math.floor((x - x0) * sx));
    const cy = Math.min(GRID - 1, Math.floor((y - y0) * sy));
    cell[i] = cy * GRID + cx;
    counts[cell[i] + 1]++;
  }
  for (let c = 0; c < GRID * GRID; c++) counts[c + 1] += counts[c];
  const start = counts.slice();
  const rows = new Int32Array(counts[GRID * GRID]);
  for (let i = 0; i < n; i++) if (cell[i] >= 0) rows[start[cell[i]]++] = i;
  return { start: counts, rows, x0, y0, sx, sy };
}

// The row of the point nearest map position (x, y) within `reach` map units, or -1.
function nearestRow(x, y, reach) {
  const { grid, xy } = mapState;
  const clamp = (v) => Math.max(0, Math.min(GRID - 1, v));
  const ax = clamp(Math.floor((x - reach - grid.x0) * grid.sx));
  const bx = clamp(Math.floor((x + reach - grid.x0) * grid.sx));
  const ay = clamp(Math.floor((y - reach - grid.y0) * grid.sy));
  const by = clamp(Math.floor((y + reach - grid.y0) * grid.sy));
  let best = -1, bestD = reach * reach;
  for (let cy = ay; cy <= by; cy++) {
    for (let cx = ax; cx <= bx; cx++) {
      const c = cy * GRID + cx;
      for (let k = grid.start[c]; k < grid.start[c + 1]; k++) {
        const i = grid.rows[k], dx = xy[2 * i] - x, dy = xy[2 * i + 1] - y;
        const d = dx * dx + dy * dy;
        if (d <= bestD) { bestD = d; best = i; }
      }
    }
  }
  return best;
}

// Colour every point and put them in drawing order (no value first, highest value last),
// a counting sort over the 256 colours.
function arrangePoints() {
  const { n, xy, values } = mapState;
  const bucket = new Int16Array(n);
  const counts = new Int32Array(258);
  let lo = Infinity, hi = -Infinity;
  if (values) {
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v === v) { if (v < lo) lo = v; if (v > hi) hi = v; }
    }
  }
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < n; i++) {
    const x = xy[2 * i], y = xy[2 * i + 1];
    let b = -1;
    if (x === x && y === y) {
      const v = values ? values[i] : NaN;
      b = v === v ? Math.min(255, Math.floor(((v - lo) / span) * 256)) + 1 : 0;
    }
    bucket[i] = b;
    if (b >= 0) counts[b + 1]++;
  }
  for (let b = 0; b < 257; b++) counts[b + 1] += counts[b];
  const total = counts[257];
  const drawX = new Float32Array(total), drawY = new Float32Array(total);
  const drawC = new Uint32Array(total);
  for (let i = 0; i < n; i++) {
    const b = bucket[i];
    if (b < 0) continue;
    const k = counts[b]++;
    drawX[k] = xy[2 * i]; drawY[k] = xy[2 * i + 1];
    drawC[k] = b === 0 ? (values ? NO_VALUE : PLAIN) : LUT[b - 1];
  }
  Object.assign(mapState, { drawX, drawY, drawC, range: lo <= hi ? [lo, hi] : null });
}
