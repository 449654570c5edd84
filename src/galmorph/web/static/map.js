// galmorph serve: the Map tab, a 2-D map of the representation drawn on a canvas. This file
// loads the map (its points and colours as float32 arrays), colours it, wires its controls
// and shows the tab; the map-*.js files, loaded before it, hold the rest.
// Uses el, $, api, showError and run from common.js; updateRankingControls from ranking.js;
// mapState and ZOOM_STEP from map-state.js; pointRadius, discOffsets, buildGrid and
// arrangePoints from map-points.js; mapCanvas, fitCanvas, drawOverlay, requestDraw and
// drawLegend from map-draw.js; saveMap and showAddressedMap from map-address.js;
// markCentre, unmarkCentre, onMapKey and resetView from map-keys.js; clearSelection and
// selectView from map-select.js; onDown, onMove, onUp, onCancel, onWheel, zoomStep and
// setMode from map-gestures.js.
"use strict";

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
