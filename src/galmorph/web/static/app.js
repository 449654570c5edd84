// galmorph serve: the page's address (each tab's state in its query string) and routing
// between the tabs, and the page's start (loaded last: it runs start()).
// Uses $, api, run and state from common.js; saveMap from map-address.js; showMap from
// map.js; readBrowse, showBrowse and setUpBrowse from browse.js; readSearchK, goSearch,
// searchById and searchByUpload from search.js; showLabel, retrain and onKey from label.js;
// setLabelCount, exportClicked and showRanking from ranking.js.
"use strict";

// ---------------------------------------------------------------- the address
// Each tab keeps its state in the address's query string, next to the others' (Browse:
// q, where, sort, page, per_page; Map: colour, x, y, zoom; search: k); the fragment names the
// tab (and the searched galaxy), so a reload, Back or a shared link shows the same view.
//
// The address with `values` set in its query string (null: the default, so left out) and the
// other parameters kept; `hash` replaces the fragment where given.
function addressWith(values, hash = location.hash) {
  const params = new URLSearchParams(location.search);
  for (const [key, value] of Object.entries(values)) {
    if (value === null || value === undefined) params.delete(key); else params.set(key, value);
  }
  const text = params.toString();
  return location.pathname + (text ? "?" + text : "") + hash;
}

// The current address as addressWith writes it.
function currentAddress() { return addressWith({}); }

// Go to `url` in this page: a new history entry (push) or in place of the current one;
// false where it is the current address already.
function setAddress(url, push) {
  if (url === currentAddress()) return false;
  if (push) history.pushState(null, "", url); else history.replaceState(null, "", url);
  return true;
}

function addressParam(name) { return new URLSearchParams(location.search).get(name); }

// ---------------------------------------------------------------- routing
// Percent-decoded text, or the text itself where it is not valid percent-encoding ("100%").
function decoded(text) {
  try {
    return decodeURIComponent(text);
  } catch (error) {
    return text;
  }
}

function currentTab() {
  const tab = (location.hash.slice(1) || "browse").split("/")[0];
  return ["browse", "map", "search", "label", "ranking"].includes(tab) ? tab : "browse";
}

async function route() {
  state.routed = location.hash;
  const rest = location.hash.slice(1).split("/").slice(1);
  const name = currentTab();
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== name;
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.tab === name);
    if (link.dataset.tab === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (name === "browse") await showBrowse();
  else if (name === "map") await showMap();
  else if (name === "search" && rest.length) await searchById(decoded(rest.join("/")));
  else if (name === "search") readSearchK();
  else if (name === "label") await showLabel();
  else if (name === "ranking") await showRanking();
}

// The address changed under the page (Back, Forward, a link to a fragment): show what it
// says. Both popstate and hashchange call this, and Chrome fires no hashchange between
// entries made by pushState, so a new fragment is routed once, by whichever comes first;
// one fragment with another query string redraws only what changed.
function onAddressChange() {
  const tab = currentTab();
  const browseMoved = readBrowse();
  const kMoved = tab === "search" && readSearchK();
  if (location.hash !== state.routed) run(route());
  else if (tab === "map") saveMap();  // the map is not in the history: the address follows it
  else if (browseMoved && tab === "browse") run(showBrowse());
  else if (kMoved && location.hash.includes("/")) run(route());
}

async function start() {
  const info = await api("/api/info");
  $("loaded").textContent = `${info.n_galaxies} galaxies · model ${info.model || "unknown"}` +
    (info.session ? ` · session ${info.session}` : "");
  state.maxUpload = info.max_upload || 0;
  state.rankingNeedsLabels = Boolean(info.ranking_needs_labels);
  state.hasSession = Boolean(info.has_session);
  setLabelCount(info.n_labels);
  for (const link of document.querySelectorAll("a[data-export]")) link.addEventListener("click", exportClicked);
  setUpBrowse(info.answers || [], info.columns || []);
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    goSearch($("search-id").value.trim());
  });
  $("upload-form").addEventListener("submit", (e) => run(searchByUpload(e)));
  $("retrain").addEventListener("click", () => run(retrain()));
  $("refresh-ranking").addEventListener("click", () => run(showRanking()));
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", onAddressChange);
  window.addEventListener("popstate", onAddressChange);
  await route();
}

run(start());
