// galmorph serve, the Map tab's pointer gestures: a click, a pan, box and lasso drags, the
// wheel, a two-finger pinch, the zoom buttons' steps and the drag mode buttons.
// Uses $ and run from common.js; mapState, MIN_ZOOM and MAX_ZOOM from map-state.js;
// mapCanvas, homeView, toMap, drawOverlay and requestDraw from map-draw.js; saveMap and
// saveMapSoon from map-address.js; pointerRow, hover and openRow from map-hover.js;
// simplify and selectShape from map-select.js.
"use strict";

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
