// galmorph serve, the Map tab from the keyboard: the galaxy nearest the centre of the view
// marked and read out, and the keys that pan, zoom, reset the view and open that galaxy.
// Uses $ and run from common.js; mapState and ZOOM_STEP from map-state.js; nearestRow from
// map-points.js; mapCanvas, homeView, toScreen, drawOverlay and requestDraw from
// map-draw.js; saveMap and saveMapSoon from map-address.js; showTip, valueText and openRow
// from map-hover.js; zoomStep from map-gestures.js.
"use strict";

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
