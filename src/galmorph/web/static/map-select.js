// galmorph serve, the Map tab's selection (a box, a lasso or the whole view): counted by the
// server, drawn on the overlay, a random few shown as cards, exported as CSV, cleared.
// Uses $ and api from common.js; searchCard from cards.js; mapState and MAX_LASSO from
// map-state.js; mapCanvas, toMap and drawOverlay from map-draw.js.
"use strict";

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

// Some of the selected galaxies as cards under the map, to see what the selection holds.
function showPicked(data) {
  const shown = data.galaxies.length;
  $("map-picked").hidden = !shown;
  $("map-picked-heading").textContent = shown === data.count
    ? `The ${shown === 1 ? "galaxy" : `${shown} galaxies`} selected`
    : `${shown} of the ${data.count} galaxies selected, drawn at random (Export selection lists them all)`;
  $("map-picked-grid").replaceChildren(...data.galaxies.map((g) => searchCard(g)));
}

// The count, cards and export of the previous selection go at once, so that nothing of it
// is left to export while the server counts this one (or if it fails).
async function selectShape(shape) {
  mapState.polygon = shape;
  drawOverlay();
  $("map-selection").textContent = "Counting the galaxies selected…";
  setExport(null);
  showPicked({ count: 0, galaxies: [] });
  $("map-clear").disabled = false;
  const polygon = polygonText(shape);
  let data;
  try {
    data = await api("/api/map/selection?" + new URLSearchParams({ polygon }));
  } catch (error) {
    if (mapState.polygon === shape) $("map-selection").textContent = "Selection not counted";
    throw error;
  }
  if (mapState.polygon !== shape) return;  // cleared, or another selection made meanwhile
  $("map-selection").textContent = `${data.count} galaxies selected`;
  setExport(data.count ? "/export/selection.csv?" + new URLSearchParams({ polygon }) : null);
  showPicked(data);
}

function clearSelection() {
  mapState.polygon = null;
  $("map-selection").textContent = "No galaxies selected";
  showPicked({ count: 0, galaxies: [] });
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
