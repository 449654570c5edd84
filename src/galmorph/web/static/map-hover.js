// galmorph serve, the Map tab's galaxy under the pointer: described (asked of the server
// once per row), shown in the tip beside it, and its page opened on a click.
// Uses $, api, imageUrl and galaxyUrl from common.js; mapState and HOVER_PX from
// map-state.js; nearestRow from map-points.js; toMap and drawOverlay from map-draw.js;
// saveMap from map-address.js; unmarkCentre from map-keys.js.
"use strict";

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

async function openRow(row) {
  const galaxy = await describeRow(row);
  saveMap();  // Back returns to this view
  location.href = galaxyUrl(galaxy.id);
}
