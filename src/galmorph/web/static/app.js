// galmorph serve: browse, search and label galaxies.
// Catalog text is only ever inserted with textContent (never as HTML).
"use strict";

const state = { page: 1, filter: "", where: "", sort: "", batch: [], current: 0, sending: Promise.resolve() };

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
  const response = await fetch(url, options);
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

function fmt(value, digits) { return value === null || value === undefined ? "–" : value.toFixed(digits); }

// One galaxy as a card: image, id, position, predicted morphology, extras.
function card(galaxy, extras = [], onClick = null) {
  const node = el("figure", { class: "card", "data-id": galaxy.id });
  if (galaxy.has_image) node.append(el("img", { src: imageUrl(galaxy.id), alt: galaxy.id, loading: "lazy" }));
  node.append(el("figcaption", { class: "id", text: galaxy.id }));
  if (galaxy.ra !== undefined) {
    node.append(el("div", { class: "muted", text: `RA ${fmt(galaxy.ra, 4)}, Dec ${fmt(galaxy.dec, 4)}` }));
  }
  for (const item of galaxy.summary || []) {
    node.append(el("div", { class: "muted", text: `${item.text} ${item.fraction.toFixed(2)}` }));
  }
  if (galaxy.score !== undefined && galaxy.score !== null) {
    node.append(el("div", {}, el("span", { class: "badge", text: `your score ${galaxy.score}` })));
  }
  for (const extra of extras) node.append(extra);
  if (onClick) node.addEventListener("click", onClick);
  return node;
}

function searchLink(galaxy) {
  return () => { location.hash = "#search/" + encodeURIComponent(galaxy.id); };
}

// ---------------------------------------------------------------- browse
// The page of galaxies passing the filter (state.where), in state.sort's order; a bad
// filter empties the grid, and the server's message shows in #error.
async function showBrowse() {
  const params = new URLSearchParams({
    page: state.page, per_page: 48, q: state.filter, where: state.where, sort: state.sort,
  });
  let data;
  try {
    data = await api("/api/galaxies?" + params);
  } catch (error) {
    $("page-info").textContent = "";
    $("browse-grid").replaceChildren();
    throw error;
  }
  state.page = data.page;
  $("page-info").textContent = `page ${data.page} of ${data.pages} (${data.total} galaxies)`;
  $("prev").disabled = data.page <= 1;
  $("next").disabled = data.page >= data.pages;
  $("browse-grid").replaceChildren(...data.galaxies.map((g) => card(g, [], searchLink(g))));
}

// The filter form (id text, filter, sort; paging keeps them), and the sort box's
// suggestions: every predicted answer, ascending, descending and by uncertainty.
function setUpBrowse(answers) {
  $("browse-sort-names").replaceChildren(...answers.flatMap((name) =>
    [name, "-" + name, name + ".uncertainty"].map((value) => el("option", { value }))));
  $("filter").addEventListener("submit", (e) => {
    e.preventDefault();
    state.filter = $("filter-text").value.trim();
    state.where = $("browse-where").value.trim();
    state.sort = $("browse-sort").value.trim();
    state.page = 1;
    run(showBrowse());
  });
  $("prev").addEventListener("click", () => { state.page -= 1; run(showBrowse()); });
  $("next").addEventListener("click", () => { state.page += 1; run(showBrowse()); });
}

// ---------------------------------------------------------------- search
function showResults(data, queryCard) {
  $("search-query").replaceChildren(queryCard);
  $("search-status").textContent = `${data.neighbours.length} nearest galaxies (${data.metric} distance)`;
  $("search-grid").replaceChildren(...data.neighbours.map((g) =>
    card(g, [el("div", { class: "muted", text: `#${g.rank}, distance ${fmt(g.distance, 3)}` })], searchLink(g))));
}

async function searchById(id) {
  $("search-id").value = id;
  $("search-status").textContent = "Searching…";
  const k = $("search-k").value || 12;
  try {
    const data = await api(`/api/similar/${encodeURIComponent(id)}?k=${k}`);
    const query = card(data.query, [el("div", { class: "muted", text: "query" })]);
    query.classList.add("query");
    showResults(data, query);
  } catch (error) {
    $("search-status").textContent = "";
    $("search-grid").replaceChildren();
    $("search-query").replaceChildren();
    throw error;
  }
}

async function searchByUpload(event) {
  event.preventDefault();
  const file = $("upload-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  form.append("k", $("search-k").value || 12);
  $("search-status").textContent = "Embedding your image…";
  const data = await api("/api/similar-image", { method: "POST", body: form });
  const query = el("figure", { class: "card query" },
    el("img", { src: URL.createObjectURL(file), alt: file.name }),
    el("figcaption", { class: "id", text: file.name }),
    el("div", { class: "muted", text: "your image" }));
  showResults(data, query);
}

// ---------------------------------------------------------------- labelling
function labelCard(galaxy, index) {
  const buttons = el("div", { class: "scores" });
  for (let score = 0; score <= 5; score++) {
    const button = el("button", { type: "button", text: String(score), title: `score ${score}` });
    if (galaxy.score === score) button.classList.add("chosen");
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      state.current = index;
      giveScore(score).catch((e) => showError(e.message));
    });
    buttons.append(button);
  }
  const predicted = galaxy.predicted === null ? "first batch: spread over the catalog"
    : `predicted ${fmt(galaxy.predicted, 2)} ± ${fmt(galaxy.std, 2)}`;
  const node = card(galaxy, [el("div", { class: "muted", text: predicted }), buttons],
    () => { state.current = index; drawBatch(); });
  if (galaxy.score !== null && galaxy.score !== undefined) node.classList.add("scored");
  if (index === state.current) node.classList.add("current");
  return node;
}

function drawBatch() {
  $("label-grid").replaceChildren(...state.batch.map(labelCard));
  const current = $("label-grid").children[state.current];
  if (current) current.scrollIntoView({ block: "nearest" });
}

function useBatch(data) {
  state.batch = data.galaxies;
  const waiting = state.batch.findIndex((g) => g.score === null || g.score === undefined);
  state.current = waiting >= 0 ? waiting : 0;
  $("label-info").textContent = `${data.n_labels} labels · batch ${data.batch} (${data.method})`;
  drawBatch();
}

async function showLabel() {
  try {
    useBatch(await api("/api/anomaly/batch"));
  } catch (error) {
    if (error.status !== 409) throw error;
    $("label-status").textContent = error.message;
    $("retrain").disabled = true;
  }
}

// Scores show at once and the cursor moves on; the requests are sent one after
// another, so fast typing never reorders them.
function giveScore(score) {
  const galaxy = state.batch[state.current];
  if (!galaxy) return Promise.resolve();
  const previous = galaxy.score;
  galaxy.score = score;
  const waiting = state.batch.findIndex((g) => g.score === null || g.score === undefined);
  state.current = waiting >= 0 ? waiting : Math.min(state.current + 1, state.batch.length - 1);
  $("label-status").textContent = waiting >= 0 ? `Scored ${galaxy.id}: ${score}`
    : "Batch done: Retrain to fit your scores and see the next batch.";
  drawBatch();
  const send = () => api("/api/anomaly/label", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ id: galaxy.id, score }),
  });
  state.sending = state.sending.then(send).then((data) => {
    $("label-info").textContent = `${data.n_labels} labels`;
  }, (error) => {
    galaxy.score = previous;
    drawBatch();
    throw error;
  });
  const sent = state.sending;
  state.sending = sent.catch(() => {});
  return sent;
}

async function retrain() {
  $("label-status").textContent = "Retraining…";
  $("retrain").disabled = true;
  try {
    await state.sending;
    useBatch(await api("/api/anomaly/retrain", { method: "POST" }));
    $("label-status").textContent = "Retrained on all your scores: here is the next batch.";
  } finally {
    $("retrain").disabled = false;
  }
}

function onKey(event) {
  if (location.hash !== "#label" || event.target.closest("input, textarea, select")) return;
  if (event.key >= "0" && event.key <= "5") {
    event.preventDefault();
    giveScore(Number(event.key)).catch((e) => showError(e.message));
  } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
    event.preventDefault();
    const step = event.key === "ArrowRight" ? 1 : -1;
    state.current = Math.max(0, Math.min(state.batch.length - 1, state.current + step));
    drawBatch();
  }
}

// ---------------------------------------------------------------- ranking
async function showRanking() {
  try {
    const data = await api("/api/anomaly/ranking?limit=60");
    $("ranking-info").textContent = `top ${data.galaxies.length} of ${data.n_ranked}`;
    $("ranking-grid").replaceChildren(...data.galaxies.map((g) => card(g, [el("div", {
      class: "muted", text: `#${g.rank} · interest ${fmt(g.interest, 2)}${g.labelled ? " ★" : ""}`,
    })], searchLink(g))));
  } catch (error) {
    if (error.status !== 409) throw error;
    $("ranking-info").textContent = error.message;
  }
}

// ---------------------------------------------------------------- routing
async function route() {
  const [tab, ...rest] = (location.hash.slice(1) || "browse").split("/");
  const name = ["browse", "map", "search", "label", "ranking"].includes(tab) ? tab : "browse";
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== name;
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.tab === name);
  if (name === "browse") await showBrowse();
  else if (name === "map") await showMap();
  else if (name === "search" && rest.length) await searchById(decodeURIComponent(rest.join("/")));
  else if (name === "label") await showLabel();
  else if (name === "ranking") await showRanking();
}

function run(promise) { promise.catch((error) => showError(error.message)); }

async function start() {
  const info = await api("/api/info");
  $("loaded").textContent = `${info.n_galaxies} galaxies · model ${info.model || "unknown"}` +
    (info.session ? ` · session ${info.session}` : "");
  setUpBrowse(info.answers || []);
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const target = "#search/" + encodeURIComponent($("search-id").value.trim());
    if (location.hash === target) run(route()); else location.hash = target;
  });
  $("upload-form").addEventListener("submit", (e) => run(searchByUpload(e)));
  $("retrain").addEventListener("click", () => run(retrain()));
  $("refresh-ranking").addEventListener("click", () => run(showRanking()));
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", () => run(route()));
  await route();
}

run(start());
