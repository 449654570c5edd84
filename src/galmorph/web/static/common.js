// galmorph serve: what every part of the page uses: its state (`state`) and the messages of
// a missing session or score, building elements (el, $), asking the server (api), showing
// an error (showError, run), and the addresses of a galaxy's image and page.
// Catalog text is only ever inserted with textContent (never as HTML).
// Uses nothing from the other files (loaded first: they all use it).
"use strict";

const state = {
  page: 1, perPage: 48, filter: "", where: "", sort: "", batch: [], current: 0,
  sending: Promise.resolve(), searches: 0, maxUpload: 0, nLabels: null, rankingNeedsLabels: false,
  hasSession: true,
  routed: "",  // the fragment last routed
};
// What the page says where the ranking needs scores and there are none.
const NO_SCORES = "No scores yet. Score some galaxies in the Label tab first: the ranking learns from your scores.";
// What the page says where there is nothing to label into.
const NO_SESSION = "No labelling session: start galmorph serve with --session FILE.db to label galaxies.";
// What the Label and Ranking tabs say there, without asking the server (which would answer 409).
const SESSIONLESS = "Nothing to label or rank: no labelling session (start galmorph serve with --session FILE.db).";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function $(id) { return document.getElementById(id); }

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function api(url, options = {}) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {
    throw new Error("could not reach the galmorph server: is galmorph serve still running?");
  }
  const body = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) {
    const error = new Error(body.detail || `request failed (${response.status})`);
    error.status = response.status;
    throw error;
  }
  showError("");
  return body;
}

function imageUrl(id) { return "/images/" + encodeURIComponent(id); }

function galaxyUrl(id) { return "/galaxy/" + encodeURIComponent(id); }

function fmt(value, digits) { return value === null || value === undefined ? "–" : value.toFixed(digits); }

function run(promise) { promise.catch((error) => showError(error.message)); }
