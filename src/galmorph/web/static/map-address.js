// galmorph serve, the Map tab's colour and view in the page's address: saved as they change
// and read when the map loads.
// Uses $ and showError from common.js; addressWith and setAddress from app.js; mapState,
// MIN_ZOOM, MAX_ZOOM and SAVE_DELAY from map-state.js; homeView from map-draw.js; colourBy
// from map.js.
"use strict";

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
