// galmorph serve, the Map tab's drawing. Points live in typed arrays and are drawn by
// writing pixels into an ImageData (no per-point canvas calls), so a million of them redraw
// in a few milliseconds; above them the overlay (the marked galaxy, the selection) and
// beside them the legend. Also the view: screen pixels to map coordinates and back.
// Uses $ from common.js; mapState, LUT and BACKGROUND from map-state.js.
"use strict";

function mapCanvas() { return $("map-canvas"); }

function fitCanvas() {
  const canvas = mapCanvas(), overlay = $("map-overlay");
  const width = Math.max(1, canvas.clientWidth), height = Math.max(1, canvas.clientHeight);
  if (canvas.width !== width || canvas.height !== height || !mapState.image) {
    canvas.width = overlay.width = width;
    canvas.height = overlay.height = height;
    mapState.image = canvas.getContext("2d").createImageData(width, height);
    mapState.pixels = new Uint32Array(mapState.image.data.buffer);
  }
}

function homeView() {
  const [x0, y0, x1, y1] = mapState.bounds;
  const canvas = mapCanvas();
  const scale = 0.92 * Math.min(canvas.width / Math.max(x1 - x0, 1e-9),
    canvas.height / Math.max(y1 - y0, 1e-9));
  return { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, scale };
}

// Screen pixel (canvas coordinates) <-> map coordinates; map y points up.
function toMap(px, py) {
  const { view } = mapState, canvas = mapCanvas();
  return [view.cx + (px - canvas.width / 2) / view.scale, view.cy - (py - canvas.height / 2) / view.scale];
}

function toScreen(x, y) {
  const { view } = mapState, canvas = mapCanvas();
  return [(x - view.cx) * view.scale + canvas.width / 2, canvas.height / 2 - (y - view.cy) * view.scale];
}

function drawMap() {
  const started = performance.now();
  const { pixels, image, drawX, drawY, drawC, view, radius, offsets } = mapState;
  const w = image.width, h = image.height, s = view.scale;
  const ox = w / 2 - view.cx * s, oy = h / 2 + view.cy * s;
  pixels.fill(BACKGROUND);
  const total = drawX.length;
  if (radius === 0) {
    for (let k = 0; k < total; k++) {
      const px = Math.floor(drawX[k] * s + ox), py = Math.floor(oy - drawY[k] * s);
      if (px >= 0 && px < w && py >= 0 && py < h) pixels[py * w + px] = drawC[k];
    }
  } else {
    for (let k = 0; k < total; k++) {
      const px = Math.floor(drawX[k] * s + ox), py = Math.floor(oy - drawY[k] * s);
      if (px < -radius || px >= w + radius || py < -radius || py >= h + radius) continue;
      const colour = drawC[k];
      for (const [dx, dy] of offsets) {
        const x = px + dx, y = py + dy;
        if (x >= 0 && x < w && y >= 0 && y < h) pixels[y * w + x] = colour;
      }
    }
  }
  mapCanvas().getContext("2d").putImageData(image, 0, 0);
  drawOverlay();
  mapState.timings.push(performance.now() - started);
  if (mapState.timings.length > 1000) mapState.timings.shift();
}

function drawOverlay() {
  const overlay = $("map-overlay"), ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  const shape = mapState.drag && mapState.drag.shape ? mapState.drag.shape : mapState.polygon;
  if (mapState.keyboard) {  // a cross at the centre of the view
    const x = overlay.width / 2, y = overlay.height / 2;
    ctx.strokeStyle = "#f0a030";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(x - 8, y); ctx.lineTo(x + 8, y);
    ctx.moveTo(x, y - 8); ctx.lineTo(x, y + 8);
    ctx.stroke();
  }
  if (mapState.hovered >= 0) {
    const [x, y] = toScreen(mapState.xy[2 * mapState.hovered], mapState.xy[2 * mapState.hovered + 1]);
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(x, y, mapState.radius + 4, 0, 2 * Math.PI);
    ctx.stroke();
  }
  if (!shape || shape.length < 2) return;
  ctx.beginPath();
  shape.forEach(([x, y], i) => {
    const [px, py] = toScreen(x, y);
    if (i) ctx.lineTo(px, py); else ctx.moveTo(px, py);
  });
  ctx.closePath();
  ctx.fillStyle = "rgba(240, 160, 48, 0.15)";
  ctx.fill();
  ctx.strokeStyle = "#f0a030";
  ctx.lineWidth = 1.5;
  ctx.stroke();
}

// Redraws are coalesced: at most one per animation frame.
function requestDraw() {
  if (mapState.pending) return;
  mapState.pending = true;
  requestAnimationFrame(() => { mapState.pending = false; drawMap(); });
}

// A legend's end: fractions from 0 to 1 with 2 decimals (0.01, not 0.00777), other
// ranges with 3 significant digits; "–" when unknown.
function legendNumber(value, other) {
  if (!Number.isFinite(value)) return "–";
  return value >= 0 && value <= 1 && other >= 0 && other <= 1 ? value.toFixed(2)
    : value.toPrecision(3);
}

function drawLegend() {
  const legend = $("map-legend");
  legend.hidden = !mapState.values;
  if (!mapState.values) return;
  const bar = $("map-legend-bar"), ctx = bar.getContext("2d");
  const strip = ctx.createImageData(256, 1);
  new Uint32Array(strip.data.buffer).set(LUT);
  for (let y = 0; y < bar.height; y++) ctx.putImageData(strip, 0, y);
  const [lo, hi] = mapState.range || [NaN, NaN];
  $("map-legend-low").textContent = legendNumber(lo, hi);
  $("map-legend-high").textContent = legendNumber(hi, lo);
  $("map-legend-label").textContent = mapState.label;
}
