// galmorph serve: the Map tab, a 2-D map of the representation drawn on a canvas.
// Points live in typed arrays and are drawn by writing pixels into an ImageData
// (no per-point canvas calls), so a million of them redraw in a few milliseconds.
// Uses el, $, api, imageUrl, run, showError, updateRankingControls, addressWith and setAddress
// from app.js (loaded after this file).
"use strict";

// viridis, 256 colours as rrggbb (matplotlib's table).
const VIRIDIS =
  "44015444025645045745055946075a46085c460a5d460b5e470d60470e61471063471164471365481467481668481769" +
  "48186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a" +
  "472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f85" +
  "4240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b" +
  "3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d" +
  "33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e" +
  "2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e" +
  "26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d" +
  "21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f88" +
  "1fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad81" +
  "28ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc74" +
  "3fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc863" +
  "5ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d" +
  "84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32" +
  "addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21a" +
  "d8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725";

// A canvas pixel as one little-endian uint32: alpha, blue, green, red from the top byte.
function rgba(hex) {
  const v = parseInt(hex, 16);
  return (0xff000000 | ((v & 0xff) << 16) | (v & 0xff00) | (v >> 16)) >>> 0;
}

const LUT = new Uint32Array(256).map((_, i) => rgba(VIRIDIS.slice(6 * i, 6 * i + 6)));
const BACKGROUND = rgba("11161d");
const NO_VALUE = rgba("59616c");
const PLAIN = rgba("7fb8ff");
const GRID = 256;          // grid cells per axis of the hover index
const HOVER_PX = 10;       // how near (screen pixels) the pointer must be to a point
const MAX_LASSO = 400;     // vertices of a lasso sent to the server
const MIN_ZOOM = 0.1;      // zoom limits, relative to the whole map in view: far enough out to
const MAX_ZOOM = 5000;     // find it again, in far enough to part points float32 keeps apart
const ZOOM_STEP = 1.5;     // zoom of one press of the + or - button
const SAVE_DELAY = 400;    // ms: the address follows the wheel at most this often

const mapState = {
  loaded: null, n: 0, xy: null, bounds: null, colours: [],
  drawX: null, drawY: null, drawC: null, radius: 0, offsets: null,
  grid: null, view: { cx: 0, cy: 0, scale: 1 }, home: null,
  image: null, pixels: null, pending: false, timings: [],
  values: null, range: null, label: "", colour: "",
  drag: null, polygon: null, hovered: -1, keyboard: false, rowCache: new Map(),
  pointers: new Map(), pinch: null, saveTimer: 0,
};

// ------------------------------------------------------------ data
async function binary(url) {
  const response = await fetch(url);
  if (!response.ok) {
    const body = await response.json().catch(() => ({ detail: response.statusText }));
    const error = new Error(body.detail || `request failed (${response.status})`);
    error.status = response.status;
    throw error;
  }
  const values = new Float32Array(await response.arrayBuffer());
  showError("");
  return values;
}

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

// ------------------------------------------------------------ drawing
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

function drawLegend() {
  const legend = $("map-legend");
  legend.hidden = !mapState.values;
  if (!mapState.values) return;
  const bar = $("map-legend-bar"), ctx = bar.getContext("2d");
  const strip = ctx.createImageData(256, 1);
  new Uint32Array(strip.data.buffer).set(LUT);
  for (let y = 0; y < bar.height; y++) ctx.putImageData(strip, 0, y);
  const [lo, hi] = mapState.range || [NaN, NaN];
  $("map-legend-low").textContent = Number.isFinite(lo) ? lo.toPrecision(3) : "–";
  $("map-legend-high").textContent = Number.isFinite(hi) ? hi.toPrecision(3) : "–";
  $("map-legend-label").textContent = mapState.label;
}

// ------------------------------------------------------------ the address
// The colour and view live in the address's query string: colour (left out for the first
// colour, empty for one colour), and x, y, zoom (the centre in map units, the zoom relative to
// the whole map in view; left out for the whole map). They are read when the page loads
// (a reload, Back from a galaxy's page, a shared link). After that the map keeps its view
// across tabs, Back and Forward; the address follows it, replacing the current history entry
// (a pan or zoom is no new entry): at the end of a drag or pinch, at most every SAVE_DELAY ms
// while the wheel turns, and when the tab is shown.
function firstColour() { return mapState.colours.length ? mapState.colours[0].name : ""; }

function mapParams() {
  const { view } = mapState, home = homeView();
  const whole = view.scale === home.scale && view.cx === home.cx && view.cy === home.cy;
  const digits = Math.max(0, Math.min(20, Math.ceil(Math.log10(10 * view.scale))));  // 0.1 px
  return {
    colour: mapState.colour === firstColour() ? null : mapState.colour,
    x: whole ? null : view.cx.toFixed(digits),
    y: whole ? null : view.cy.toFixed(digits),
    zoom: whole ? null : String(Number((view.scale / home.scale).toPrecision(6))),
  };
}

function saveMap() {
  clearTimeout(mapState.saveTimer);
  mapState.saveTimer = 0;
  if (mapState.drawX) setAddress(addressWith(mapParams()), false);  // once loaded
}

function saveMapSoon() {
  if (!mapState.saveTimer) mapState.saveTimer = setTimeout(saveMap, SAVE_DELAY);
}

// The colour and view the address asks for: a colour the map lacks (or none named) is the
// first, a missing or bad view the whole map, a zoom past the limits the limit.
function addressedMap() {
  const params = new URLSearchParams(location.search);
  let colour = params.get("colour");
  if (colour === null || (colour && !mapState.colours.some((c) => c.name === colour))) {
    colour = firstColour();
  }
  const home = homeView();
  const x = parseFloat(params.get("x")), y = parseFloat(params.get("y"));
  const zoom = parseFloat(params.get("zoom"));
  const view = Number.isFinite(x) && Number.isFinite(y) && zoom > 0
    ? { cx: x, cy: y, scale: home.scale * Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom)) } : home;
  return { colour, view };
}

// Show the colour and view in the address (as the map loads); a colour that cannot be shown
// (interest before the first score) leaves the first one, and says why.
async function showAddressedMap() {
  const { colour, view } = addressedMap();
  mapState.view = view;
  $("map-colour").value = colour;
  try {
    await colourBy(colour);
  } catch (error) {
    if (colour === firstColour()) throw error;
    $("map-colour").value = firstColour();
    await colourBy(firstColour());
    showError(error.message);
  }
  saveMap();
}

// ------------------------------------------------------------ colour
// Colour by `name` ("" for one colour); when that fails the chooser goes back to the
// colours the map still shows.
async function colourBy(name) {
  const choice = mapState.colours.find((c) => c.name === name);
  let values = null;
  if (name) {
    try {
      values = await binary("/api/map/colour?" + new URLSearchParams({ by: name }));
    } catch (error) {
      $("map-colour").value = mapState.colour;
      throw error;
    }
  }
  Object.assign(mapState, { values, colour: name, label: choice ? choice.label : "" });
  arrangePoints();
  drawLegend();
  requestDraw();
}

// ------------------------------------------------------------ hover and click
async function describeRow(row) {
  if (!mapState.rowCache.has(row)) {
    mapState.rowCache.set(row, api(`/api/map/rows/${row}`).catch((error) => {
      mapState.rowCache.delete(row);
      throw error;
    }));
  }
  return mapState.rowCache.get(row);
}

function pointerRow(event) {
  const [x, y] = toMap(event.offsetX, event.offsetY);
  return nearestRow(x, y, HOVER_PX / mapState.view.scale);
}

async function hover(event) {
  const row = pointerRow(event);
  unmarkCentre();
  if (row === mapState.hovered) return;
  mapState.hovered = row;
  drawOverlay();
  await showTip(row, event.offsetX, event.offsetY);
}

// The tip of galaxy `row` (none for -1) beside canvas pixel (px, py), unless another galaxy
// is marked by the time it is described; the galaxy described, or null.
async function showTip(row, px, py) {
  const tip = $("map-tip");
  if (row < 0) { tip.hidden = true; return null; }
  const galaxy = await describeRow(row);
  if (mapState.hovered !== row) return null;
  const image = tip.querySelector("img");
  image.hidden = !galaxy.has_image;
  if (galaxy.has_image) image.src = imageUrl(galaxy.id);
  tip.querySelector(".id").textContent = galaxy.id;
  tip.querySelector(".value").textContent = mapState.values ? valueText(row) : "";
  const stage = $("map-stage");
  tip.style.left = `${Math.max(0, Math.min(px + 14, stage.clientWidth - 190))}px`;
  tip.style.top = `${Math.max(0, Math.min(py + 14, stage.clientHeight - 230))}px`;
  tip.hidden = false;
  return galaxy;
}

function valueText(row) {
  const value = mapState.values[row];
  return `${mapState.label} = ${value === value ? value.toPrecision(3) : "none"}`;
}

// ------------------------------------------------------------ the keyboard's galaxy
// With the map focused from the keyboard, the galaxy nearest the centre of the view (within
// a quarter of its smaller side) is marked, shown in the tip and read out; Enter opens it.
function centreRow() {
  const canvas = mapCanvas(), view = mapState.view;
  return nearestRow(view.cx, view.cy, Math.min(canvas.width, canvas.height) / 4 / view.scale);
}

async function markCentre() {
  const row = centreRow();
  Object.assign(mapState, { keyboard: true, hovered: row });
  drawOverlay();
  const line = $("map-centre");
  if (row < 0) {
    $("map-tip").hidden = true;
    line.textContent = "No galaxy near the centre of the view: pan or zoom out";
    return;
  }
  const [px, py] = toScreen(mapState.xy[2 * row], mapState.xy[2 * row + 1]);
  const galaxy = await showTip(row, px, py);
  if (!galaxy) return;
  const value = mapState.values ? `, ${valueText(row)}` : "";
  line.textContent = `Nearest the centre: ${galaxy.id}${value}. Enter opens its page.`;
}

function unmarkCentre() {
  if (!mapState.keyboard) return;
  Object.assign(mapState, { keyboard: false, hovered: -1 });
  $("map-tip").hidden = true;
  $("map-centre").textContent = "";
  drawOverlay();
}

async function openRow(row) {
  const galaxy = await describeRow(row);
  saveMap();  // Back returns to this view
  location.href = "/galaxy/" + encodeURIComponent(galaxy.id);
}

// ------------------------------------------------------------ selection
function polygonText(shape) {
  return shape.map(([x, y]) => `${Number(x.toPrecision(8))},${Number(y.toPrecision(8))}`).join(",");
}

function simplify(points) {
  const step = Math.ceil(points.length / MAX_LASSO);
  return step <= 1 ? points : points.filter((_, i) => i % step === 0);
}

// The export link and Clear button are always there (disabled without a selection), so the
// toolbar never changes size and the map never moves under the pointer.
function setExport(href) {
  const link = $("map-export");
  if (href) {
    link.href = href;
    link.classList.remove("disabled");
    link.removeAttribute("aria-disabled");
  } else {
    link.removeAttribute("href");
    link.classList.add("disabled");
    link.setAttribute("aria-disabled", "true");
  }
}

async function selectShape(shape) {
  mapState.polygon = shape;
  drawOverlay();
  const polygon = polygonText(shape);
  const data = await api("/api/map/selection?" + new URLSearchParams({ polygon }));
  $("map-selection").textContent = `${data.count} galaxies selected`;
  setExport(data.count ? "/export/selection.csv?" + new URLSearchParams({ polygon }) : null);
  $("map-clear").disabled = false;
}

function clearSelection() {
  mapState.polygon = null;
  $("map-selection").textContent = "No galaxies selected";
  setExport(null);
  // the Clear button is disabled now: the keyboard's focus would drop onto the page's body
  if (document.activeElement === $("map-clear")) $("map-select-view").focus();
  $("map-clear").disabled = true;
  drawOverlay();
}

// Select every galaxy in view: the keyboard's way to a selection (pan and zoom to choose).
function selectView() {
  const canvas = mapCanvas(), w = canvas.width, h = canvas.height;
  return selectShape([toMap(0, 0), toMap(w, 0), toMap(w, h), toMap(0, h)]);
}

// The focused map with the keyboard: the arrow keys pan by an eighth of the view, + and -
// zoom about its centre, Home shows the whole map again, Enter (or Space) opens the galaxy
// marked nearest the centre.
const PAN_KEYS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };

function onMapKey(event) {
  if (event.ctrlKey || event.altKey || event.metaKey) return;
  const canvas = mapCanvas(), view = mapState.view;
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    const row = centreRow();
    run(row >= 0 ? openRow(row) : markCentre());
    return;
  }
  if (PAN_KEYS[event.key]) {
    const [dx, dy] = PAN_KEYS[event.key];
    view.cx += (dx * canvas.width) / 8 / view.scale;
    view.cy += (dy * canvas.height) / 8 / view.scale;
    requestDraw();
    saveMapSoon();
  } else if (event.key === "+" || event.key === "=") {
    zoomStep(ZOOM_STEP);
  } else if (event.key === "-" || event.key === "_") {
    zoomStep(1 / ZOOM_STEP);
  } else if (event.key === "Home") {
    resetView();
  } else {
    return;
  }
  event.preventDefault();
  run(markCentre());
}

function resetView() {
  mapState.view = homeView();
  requestDraw();
  saveMap();
}

// ------------------------------------------------------------ pointer and wheel
function dragKind(event) {
  if (event.shiftKey) return "box";
  if (event.altKey) return "lasso";
  return document.querySelector("#map-modes button.active").dataset.mode;
}

// A second finger (pointer) down starts a pinch, which ends any pan, box or lasso.
function onDown(event) {
  if (event.button !== 0) return;
  event.preventDefault();
  mapCanvas().setPointerCapture(event.pointerId);
  mapState.pointers.set(event.pointerId, [event.offsetX, event.offsetY]);
  if (mapState.pointers.size >= 2) {
    if (!mapState.pinch) startPinch();
    return;
  }
  const kind = dragKind(event);
  const start = toMap(event.offsetX, event.offsetY);
  mapState.drag = { kind, x: event.offsetX, y: event.offsetY, moved: false, start, points: [start] };
  $("map-tip").hidden = true;
}

function onMove(event) {
  if (mapState.pointers.has(event.pointerId)) {
    mapState.pointers.set(event.pointerId, [event.offsetX, event.offsetY]);
  }
  if (mapState.pinch) { movePinch(); return; }
  const drag = mapState.drag;
  if (!drag) { run(hover(event)); return; }
  const dx = event.offsetX - drag.x, dy = event.offsetY - drag.y;
  if (!drag.moved && Math.hypot(dx, dy) < 4) return;
  drag.moved = true;
  const here = toMap(event.offsetX, event.offsetY);
  if (drag.kind === "pan") {
    mapState.view.cx -= dx / mapState.view.scale;
    mapState.view.cy += dy / mapState.view.scale;
    drag.x = event.offsetX; drag.y = event.offsetY;
    requestDraw();
  } else if (drag.kind === "box") {
    const [x0, y0] = drag.start, [x1, y1] = here;
    drag.shape = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
    drawOverlay();
  } else {
    drag.points.push(here);
    drag.shape = drag.points;
    drawOverlay();
  }
}

// Forget a pointer that went up or away; true when the drag (if any) is still to finish.
function releasePointer(event) {
  if (!mapState.pointers.delete(event.pointerId)) return false;
  if (mapState.pinch) {
    if (mapState.pinch.ids.includes(event.pointerId)) endPinch();
    return false;
  }
  return true;
}

function onUp(event) {
  if (!releasePointer(event)) return;
  const drag = mapState.drag;
  if (!drag) return;
  mapState.drag = null;
  if (!drag.moved) {
    const row = pointerRow(event);
    if (row >= 0) run(openRow(row));
  } else if (drag.shape && drag.shape.length >= 3) {
    run(selectShape(drag.kind === "lasso" ? simplify(drag.shape) : drag.shape));
  } else {
    drawOverlay();
    if (drag.kind === "pan") saveMap();
  }
}

// A pointer the browser took away (a system gesture, a lost capture): no click, no selection.
function onCancel(event) {
  if (!releasePointer(event)) return;
  const drag = mapState.drag;
  mapState.drag = null;
  drawOverlay();
  if (drag && drag.kind === "pan" && drag.moved) saveMap();
}

// ------------------------------------------------------------ zoom and pinch
// The least and most scale: MIN_ZOOM and MAX_ZOOM times the whole map's.
function scaleLimits() {
  const home = homeView().scale;
  return [MIN_ZOOM * home, MAX_ZOOM * home];
}

// Zoom by `factor` about canvas pixel (px, py), which stays over the same map point, within
// the zoom limits; false where the view did not change (at a limit).
function zoomAbout(px, py, factor) {
  const view = mapState.view, [least, most] = scaleLimits();
  const change = Math.min(most, Math.max(least, view.scale * factor)) / view.scale;
  if (!(change > 0) || change === 1) return false;
  const [x, y] = toMap(px, py);
  view.scale *= change;
  view.cx = x - (x - view.cx) / change;
  view.cy = y - (y - view.cy) / change;
  requestDraw();
  return true;
}

function onWheel(event) {
  event.preventDefault();
  const factor = Math.exp(-event.deltaY * (event.deltaMode === 1 ? 0.05 : 0.0015));
  if (zoomAbout(event.offsetX, event.offsetY, factor)) saveMapSoon();
}

// The + and - buttons zoom about the centre of the map.
function zoomStep(factor) {
  const canvas = mapCanvas();
  if (zoomAbout(canvas.width / 2, canvas.height / 2, factor)) saveMap();
}

// The view during a pinch. `start` is the view when the two pointers went down at canvas
// pixels a0 and b0; they are now at a1 and b1. The scale follows the distance between
// them (within `limits`, the least and most scale) and the map point under their first
// midpoint follows their midpoint, so two fingers zoom and pan at once; `size` is the
// canvas's [width, height].
function pinchView(start, a0, b0, a1, b1, size, limits) {
  const d0 = Math.hypot(b0[0] - a0[0], b0[1] - a0[1]);
  const d1 = Math.hypot(b1[0] - a1[0], b1[1] - a1[1]);
  const wanted = d0 > 0 ? start.scale * (d1 / d0) : start.scale;
  const scale = Math.min(limits[1], Math.max(limits[0], wanted));
  const [w, h] = size;
  const x = start.cx + ((a0[0] + b0[0]) / 2 - w / 2) / start.scale;
  const y = start.cy - ((a0[1] + b0[1]) / 2 - h / 2) / start.scale;
  return {
    cx: x - ((a1[0] + b1[0]) / 2 - w / 2) / scale,
    cy: y + ((a1[1] + b1[1]) / 2 - h / 2) / scale,
    scale,
  };
}

function startPinch() {
  const [[idA, a], [idB, b]] = mapState.pointers.entries();
  mapState.drag = null;
  mapState.pinch = { ids: [idA, idB], a, b, view: { ...mapState.view } };
  $("map-tip").hidden = true;
  drawOverlay();
}

function movePinch() {
  const { ids, a, b, view } = mapState.pinch;
  const a1 = mapState.pointers.get(ids[0]), b1 = mapState.pointers.get(ids[1]);
  const canvas = mapCanvas();
  mapState.view = pinchView(view, a, b, a1, b1, [canvas.width, canvas.height], scaleLimits());
  requestDraw();
}

// A pinch's finger lifted: the view is saved; two fingers still down pinch on, one pans on.
function endPinch() {
  mapState.pinch = null;
  saveMap();
  if (mapState.pointers.size >= 2) {
    startPinch();
    return;
  }
  const [rest] = mapState.pointers.values();
  if (rest) mapState.drag = { kind: "pan", x: rest[0], y: rest[1], moved: true, start: rest, points: [] };
}

function setMode(button) {
  for (const other of document.querySelectorAll("#map-modes button")) {
    other.classList.toggle("active", other === button);
    other.setAttribute("aria-pressed", String(other === button));
  }
}

// ------------------------------------------------------------ loading
async function loadMap() {
  let meta;
  try {
    meta = await api("/api/map/info");
  } catch (error) {
    if (error.status !== 409) throw error;
    $("map-info").textContent = error.message;
    return;
  }
  const xy = await binary("/api/map");
  Object.assign(mapState, { n: meta.count, xy, bounds: meta.bounds, colours: meta.colours,
    radius: pointRadius(meta.placed), grid: buildGrid(xy, meta.count, meta.bounds) });
  mapState.offsets = discOffsets(mapState.radius);
  $("map-info").textContent = `${meta.placed} of ${meta.count} galaxies · ${meta.method} map`;
  const chooser = $("map-colour");
  chooser.replaceChildren(el("option", { value: "", text: "— one colour —" }),
    ...meta.colours.map((c) => el("option", { value: c.name, text: c.label })));
  updateRankingControls();
  const canvas = mapCanvas();
  canvas.addEventListener("pointerdown", onDown);
  canvas.addEventListener("pointermove", onMove);
  canvas.addEventListener("pointerup", onUp);
  canvas.addEventListener("pointercancel", onCancel);
  canvas.addEventListener("lostpointercapture", onCancel);
  canvas.addEventListener("pointerleave", () => {
    mapState.hovered = -1; $("map-tip").hidden = true; drawOverlay();
  });
  canvas.addEventListener("wheel", onWheel, { passive: false });
  chooser.addEventListener("change", () => run(colourBy(chooser.value).then(saveMap)));
  $("map-reset").addEventListener("click", resetView);
  canvas.addEventListener("keydown", onMapKey);
  canvas.addEventListener("focus", () => { if (canvas.matches(":focus-visible")) run(markCentre()); });
  canvas.addEventListener("blur", unmarkCentre);
  $("map-select-view").addEventListener("click", () => run(selectView()));
  $("map-zoom-in").addEventListener("click", () => zoomStep(ZOOM_STEP));
  $("map-zoom-out").addEventListener("click", () => zoomStep(1 / ZOOM_STEP));
  $("map-clear").addEventListener("click", clearSelection);
  for (const button of document.querySelectorAll("#map-modes button")) {
    button.addEventListener("click", () => setMode(button));
  }
  window.addEventListener("resize", () => { if (!$("map").hidden) { fitCanvas(); requestDraw(); } });
  fitCanvas();
  await showAddressedMap();
  window.galmorphMap = mapState;
}

async function showMap() {
  const fresh = !mapState.loaded;
  if (fresh) {
    mapState.loaded = loadMap().catch((error) => { mapState.loaded = null; throw error; });
  }
  await mapState.loaded;
  if (!mapState.xy) return;
  fitCanvas();
  saveMap();  // Back or Forward may have left an older view in the address
  const chosen = mapState.colour;  // the scores may have changed since it was drawn
  if (!fresh && (chosen === "score" || chosen === "interest")) await colourBy(chosen);
  else requestDraw();
}
