// galmorph serve: browse, search and label galaxies.
// Catalog text is only ever inserted with textContent (never as HTML).
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

// A square saying why a galaxy shows no image, in its place.
function noImage(why) { return el("div", { class: "no-image", text: why }); }

// A galaxy's image, or a square saying it has none (no file) or it cannot be shown (a
// broken or unreadable file), so that every card keeps its shape. No alt text: the card's
// caption names the galaxy, so a screen reader need not read its id twice.
function galaxyImage(galaxy) {
  if (!galaxy.has_image) return noImage("no image file");
  const image = el("img", { src: imageUrl(galaxy.id), alt: "", loading: "lazy" });
  image.addEventListener("error", () => image.replaceWith(noImage("image cannot be read")));
  return image;
}

// One galaxy as a card: image, id, position, predicted morphology, extras, and a link to its
// page. onClick runs on a click anywhere on the card; `action` names it on a button that
// takes keyboard focus (its click bubbles up to the card), e.g. "Similar".
function card(galaxy, extras = [], onClick = null, action = null) {
  const node = el("figure", { class: "card", "data-id": galaxy.id });
  node.append(galaxyImage(galaxy));
  node.append(el("figcaption", { class: "id", text: galaxy.id }));
  if (galaxy.ra !== undefined) {
    node.append(el("div", { class: "muted", text: `RA ${fmt(galaxy.ra, 4)}, Dec ${fmt(galaxy.dec, 4)}` }));
  }
  for (const item of galaxy.summary || []) {
    node.append(el("div", { class: "muted", text: `${item.text} ${fmt(item.fraction, 2)}` }));
  }
  if (galaxy.score !== undefined && galaxy.score !== null) {
    node.append(el("div", {}, el("span", { class: "badge", text: `your score ${galaxy.score}` })));
  }
  for (const extra of extras) node.append(extra);
  const actions = el("div", { class: "card-actions" });
  if (onClick && action) {
    actions.append(el("button", { type: "button", class: "card-main", text: action.text,
      "aria-label": `${action.text}: ${action.label}` }));
  }
  actions.append(el("a", { href: galaxyUrl(galaxy.id), text: "Galaxy page",
    "aria-label": `Galaxy page of ${galaxy.id}`, on: { click: (e) => e.stopPropagation() } }));
  node.append(actions);
  if (onClick) node.addEventListener("click", onClick);
  return node;
}

// Search for galaxy `id` (or a position) with the form's "How many": a new history entry.
function goSearch(id) {
  const k = kParam(searchK($("search-k").value));
  setAddress(addressWith({ k }, "#search/" + encodeURIComponent(id)), true);
  run(route());
}

function searchLink(galaxy) { return () => goSearch(galaxy.id); }

// A card whose click (or Similar button) shows the galaxies most like it.
function searchCard(galaxy, extras = []) {
  return card(galaxy, extras, searchLink(galaxy),
    { text: "Similar", label: `galaxies most like ${galaxy.id}` });
}

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

// ---------------------------------------------------------------- browse
// The browse state lives in the address's query string (?q=&where=&sort=&page=&per_page=),
// so a reload or a shared link shows the same galaxies; a new filter or page is a new
// history entry, so Back returns to the previous page of results.
function saveBrowse(push) {
  setAddress(addressWith({
    q: state.filter || null, where: state.where || null, sort: state.sort || null,
    page: state.page > 1 ? state.page : null, per_page: state.perPage !== 48 ? state.perPage : null,
  }), push);
}

// Read the browse state from the address into `state` and the form; true when it changed.
function readBrowse() {
  const params = new URLSearchParams(location.search);
  const number = (name, fallback, most) => {
    const value = parseInt(params.get(name), 10);
    return value >= 1 ? Math.min(value, most) : fallback;
  };
  const read = {
    filter: params.get("q") || "", where: params.get("where") || "", sort: params.get("sort") || "",
    page: number("page", 1, Number.MAX_SAFE_INTEGER), perPage: number("per_page", 48, 200),
  };
  const changed = Object.keys(read).some((key) => state[key] !== read[key]);
  Object.assign(state, read);
  $("filter-text").value = state.filter;
  $("browse-where").value = state.where;
  $("browse-sort").value = state.sort;
  return changed;
}

// The page of galaxies passing the filter (state.where), in state.sort's order; a bad
// filter empties the grid, and the server's message shows in #error.
async function showBrowse() {
  const params = new URLSearchParams({
    page: state.page, per_page: state.perPage, q: state.filter, where: state.where, sort: state.sort,
  });
  let data;
  try {
    data = await api("/api/galaxies?" + params);
  } catch (error) {
    $("page-info").textContent = "";
    $("browse-grid").replaceChildren();
    throw error;
  }
  if (data.page !== state.page) {  // past the last page: show the last one
    state.page = data.page;
    saveBrowse(false);
  }
  $("page-info").textContent = `page ${data.page} of ${data.pages} (${data.total} galaxies)`;
  // the export takes every galaxy of this filter and order, not only this page's
  $("browse-export").href = "/export/galaxies.csv?" + new URLSearchParams({
    q: state.filter, where: state.where, sort: state.sort,
  });
  // a focused Previous or Next that is disabled (the first or last page) would drop the
  // keyboard's focus on the page's body: it moves to the other one
  const focused = document.activeElement;
  $("prev").disabled = data.page <= 1;
  $("next").disabled = data.page >= data.pages;
  if (focused && focused.disabled && (focused === $("prev") || focused === $("next"))) {
    const other = focused === $("prev") ? $("next") : $("prev");
    if (!other.disabled) other.focus();
  }
  $("browse-grid").replaceChildren(...data.galaxies.map((g) => searchCard(g)));
}

function turnPage(step) {
  state.page += step;
  saveBrowse(true);
  run(showBrowse());
}

// The filter form (id text, filter, sort; paging keeps them), and the sort box's
// suggestions: every predicted answer, ascending, descending and by uncertainty, and a
// classifier's columns (`columns`, backquoted where a filter needs it), up and down.
function setUpBrowse(answers, columns) {
  const values = [...answers.flatMap((name) => [name, "-" + name, name + ".uncertainty"]),
    ...columns.flatMap((name) => [name, "-" + name])];
  $("browse-sort-names").replaceChildren(...values.map((value) => el("option", { value })));
  $("filter").addEventListener("submit", (e) => {
    e.preventDefault();
    state.filter = $("filter-text").value.trim();
    state.where = $("browse-where").value.trim();
    state.sort = $("browse-sort").value.trim();
    state.page = 1;
    saveBrowse(true);
    run(showBrowse());
  });
  $("prev").addEventListener("click", () => turnPage(-1));
  $("next").addEventListener("click", () => turnPage(1));
  readBrowse();
}

// ---------------------------------------------------------------- search
// Each search gets a number: an answer arriving after a newer search started is dropped.
// The searched galaxy is in the fragment (#search/ID) and "How many" in the query string
// (?k=, left out at 12); an uploaded image is not kept, so its address is plain #search.
const DEFAULT_K = 12, MAX_K = 100;

// "How many" from text: a whole number from 1 to MAX_K, else DEFAULT_K.
function searchK(text) {
  const k = parseInt(text, 10);
  return k >= 1 ? Math.min(k, MAX_K) : DEFAULT_K;
}

// The address's "How many", shown in the form; true when the form showed another.
function readSearchK() {
  const k = searchK(addressParam("k"));
  const changed = String(k) !== $("search-k").value;
  $("search-k").value = k;
  return changed;
}

function kParam(k) { return k === DEFAULT_K ? null : k; }

function showResults(data, queryCard) {
  $("search-query").replaceChildren(queryCard);
  searchStatus(`${data.neighbours.length} nearest galaxies (${data.metric} distance)`);
  $("search-grid").replaceChildren(...data.neighbours.map((g) =>
    searchCard(g, [el("div", { class: "muted", text: `#${g.rank}, distance ${fmt(g.distance, 3)}` })])));
  showSearchExport(data);
  // A card's Similar button (in Browse, Ranking or the old results) is hidden or gone: the
  // keyboard's focus goes to the line saying what was found, just above the results.
  if (focusLost()) $("search-status").focus({ preventScroll: true });
}

// Whether the keyboard's focus is nowhere to be seen: on the page's body, or on an element
// removed or hidden.
function focusLost() {
  const active = document.activeElement;
  return !active || active === document.body || !active.isConnected || !active.getClientRects().length;
}

// One CSV field: quoted when it holds a comma, quote or line break (RFC 4180).
function csvField(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

// The results as CSV, made here (an uploaded image's results cannot be asked for again):
// rank, id, position where known and distance, one row per neighbour.
function showSearchExport(data) {
  const link = $("search-export");
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  const columns = ["rank", "id_str", "ra", "dec", "distance"];
  const rows = data.neighbours.map((g) => [g.rank, g.id, g.ra, g.dec, g.distance]);
  const text = [columns, ...rows].map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
  link.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  link.download = `similar-to-${data.query.id.replace(/[^\w.+-]+/g, "_").slice(0, 80)}.csv`;
  link.title = `the ${rows.length} galaxies found, with their ${data.metric} distance to ${data.query.id}`;
  link.hidden = false;
}

function searchStatus(text, failed = false) {
  const status = $("search-status");
  status.textContent = text;
  status.classList.toggle("failed", failed);
}

function clearResults() {
  $("search-query").replaceChildren();
  $("search-grid").replaceChildren();
  $("search-export").hidden = true;
}

// A galaxy by id (any case) or by position "RA Dec" in degrees.
async function searchById(id) {
  const search = ++state.searches;
  $("search-id").value = id;
  searchStatus("Searching…");
  readSearchK();
  const k = $("search-k").value;
  try {
    const data = await api(`/api/similar/${encodeURIComponent(id)}?k=${k}`);
    if (search !== state.searches) return;
    const position = data.query.position;
    const extras = [el("div", { class: "muted", text: "query" })];
    if (position) {
      extras.push(el("div", { class: "muted",
        text: `nearest to RA ${position.ra}, Dec ${position.dec} (${position.separation_arcsec.toFixed(2)}″)` }));
    }
    const query = card(data.query, extras);
    query.classList.add("query");
    showResults(data, query);
  } catch (error) {
    if (search !== state.searches) return;
    searchStatus("");
    clearResults();
    throw error;
  }
}

function megabytes(bytes) { return `${Number((bytes / 1024 ** 2).toPrecision(3))} MB`; }

// An uploaded image's neighbours. The old results go at once (they are not this image's);
// a failure is said on the status line under the upload form, where the user is looking.
async function searchByUpload(event) {
  event.preventDefault();
  // one image, or one FITS file per band of one galaxy (chosen together)
  const files = Array.from($("upload-file").files);
  if (!files.length) return;
  const search = ++state.searches;
  clearResults();
  showError("");
  const k = searchK($("search-k").value);
  setAddress(addressWith({ k: kParam(k) }, "#search"), true);  // not this image: nothing to reload
  const names = files.map((file) => file.name).join(", ");
  const size = files.reduce((sum, file) => sum + file.size, 0);
  if (state.maxUpload && size > state.maxUpload) {
    searchStatus(`${names} ${files.length > 1 ? "are" : "is"} ${megabytes(size)}: the largest ` +
      `image this server accepts is ${megabytes(state.maxUpload)}.`, true);
    return;
  }
  const form = new FormData();
  for (const file of files) form.append("file", file);
  form.append("k", k);
  searchStatus(`Embedding ${names}…`);
  let data;
  try {
    data = await api("/api/similar-image", { method: "POST", body: form });
  } catch (error) {
    if (search === state.searches) searchStatus(`Could not search with ${names}: ${error.message}`, true);
    return;
  }
  if (search !== state.searches) return;
  // FITS: the server's drawing of what it read; a browser cannot show FITS itself
  const picture = data.query.preview || URL.createObjectURL(files[0]);
  const query = el("figure", { class: "card query" },
    el("img", { src: picture, alt: names }),
    el("figcaption", { class: "id", text: names }),
    el("div", { class: "muted", text: "your image" }));
  showResults(data, query);
  // how the image differs from the model's (size, channels, stretch): as the command warns
  if (data.query.notes.length) {
    $("search-status").textContent += `. Note: ${data.query.notes.join(" ")}`;
  }
}

// ---------------------------------------------------------------- labelling
function labelCard(galaxy, index) {
  const buttons = el("div", { class: "scores", role: "group", "aria-label": `score ${galaxy.id}` });
  for (let score = 0; score <= 5; score++) {
    const button = el("button", { type: "button", text: String(score), title: `score ${score}`,
      "aria-pressed": String(galaxy.score === score) });
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
  if (index === state.current) {
    node.classList.add("current");
    node.setAttribute("aria-current", "true");
  }
  return node;
}

// The cards are drawn anew on every score and move; the keyboard's focus, where it was on a
// card, follows the cursor to the same control (score button or link) of the current card,
// rather than drop onto the page's body.
function drawBatch() {
  const grid = $("label-grid"), active = document.activeElement;
  const controls = (node) => Array.from(node.querySelectorAll("button, a"));
  const focused = active && grid.contains(active) ? controls(active.closest(".card")).indexOf(active) : -1;
  grid.replaceChildren(...state.batch.map(labelCard));
  const current = grid.children[state.current];
  if (!current) return;
  current.scrollIntoView({ block: "nearest" });
  if (focused >= 0) controls(current)[focused]?.focus({ preventScroll: true });
}

function useBatch(data) {
  state.batch = data.galaxies;
  const waiting = state.batch.findIndex((g) => g.score === null || g.score === undefined);
  state.current = waiting >= 0 ? waiting : 0;
  $("label-info").textContent = `${data.n_labels} labels · batch ${data.batch} (${data.method})`;
  setLabelCount(data.n_labels);
  drawBatch();
}

async function showLabel() {
  if (!state.hasSession) {  // nothing to ask the server for
    $("label-status").textContent = SESSIONLESS;
    $("retrain").disabled = true;
    return;
  }
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
    setLabelCount(data.n_labels);
  }, (error) => {
    galaxy.score = previous;
    drawBatch();
    throw error;
  });
  const sent = state.sending;
  state.sending = sent.catch(() => {});
  return sent;
}

// Retrain fits the model to every score and proposes a new batch; with no score yet there
// is nothing to fit, and the server keeps the batch ("retrained": false).
async function retrain() {
  $("label-status").textContent = "Retraining…";
  $("retrain").disabled = true;
  try {
    await state.sending;
    const data = await api("/api/anomaly/retrain", { method: "POST" });
    useBatch(data);
    $("label-status").textContent = !data.retrained
      ? "Nothing to retrain on yet: score some of these galaxies first (click a score or press 0–5)."
      : data.notice ? `Retrained, but ${data.notice}.`
        : "Retrained on all your scores: here is the next batch.";
  } catch (error) {
    $("label-status").textContent = "";
    throw error;
  } finally {
    $("retrain").disabled = false;
  }
}

function onKey(event) {
  if (location.hash !== "#label" || event.target.closest("input, textarea, select")) return;
  // Alt+← is the browser's Back, Ctrl+1 its first tab: not a score or a move
  if (event.ctrlKey || event.altKey || event.metaKey) return;
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
// Why an export (`labels` or `ranking`) cannot be made yet, or null: without a session
// neither can; the ranking neither when the session's method learns from scores and there are
// none yet. Until then the controls that need it (the exports, the map's "interest" colour)
// are disabled, with a tooltip saying why.
function exportBlocked(kind) {
  if (!state.hasSession) return NO_SESSION;
  return kind === "ranking" && state.rankingNeedsLabels && state.nLabels === 0 ? NO_SCORES : null;
}

function setLabelCount(n) {
  state.nLabels = n;
  updateRankingControls();
}

function updateRankingControls() {
  for (const link of document.querySelectorAll("a[data-export]")) {
    const why = exportBlocked(link.dataset.export);
    link.classList.toggle("disabled", why !== null);
    if (why === null) { link.removeAttribute("aria-disabled"); link.removeAttribute("title"); }
    else { link.setAttribute("aria-disabled", "true"); link.title = why; }
  }
  const interest = document.querySelector("#map-colour option[value=interest]");
  if (interest) {
    const why = exportBlocked("ranking");
    interest.disabled = why !== null;
    interest.title = why || "";
  }
}

// A click on a disabled export says why instead of downloading an error.
function exportClicked(event) {
  const why = exportBlocked(event.currentTarget.dataset.export);
  if (why === null) return;
  event.preventDefault();
  showError(why);
}

// Whether the ranking cannot be asked for yet (no session, or no score yet), asking the
// server for the number of scores first (another window may have scored since): so the tab
// says why without a failed request.
async function rankingBlocked() {
  if (exportBlocked("ranking") === NO_SCORES) setLabelCount((await api("/api/info")).n_labels);
  return exportBlocked("ranking");
}

async function showRanking() {
  const why = await rankingBlocked();
  if (why !== null) {
    $("ranking-info").textContent = why === NO_SESSION ? SESSIONLESS : why;
    $("ranking-grid").replaceChildren();
    return;
  }
  try {
    const data = await api("/api/anomaly/ranking?limit=60");
    $("ranking-info").textContent = `top ${data.galaxies.length} of ${data.n_ranked}`
      + (data.notice ? ` · note: ${data.notice}` : "");
    $("ranking-grid").replaceChildren(...data.galaxies.map((g) => searchCard(g, [el("div", {
      class: "muted", text: `#${g.rank} · interest ${fmt(g.interest, 2)}${g.labelled ? " ★" : ""}`,
    })])));
  } catch (error) {
    if (error.status !== 409) throw error;  // 409: no session, or no scores yet
    $("ranking-info").textContent = error.message;
    $("ranking-grid").replaceChildren();
  }
}

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

function run(promise) { promise.catch((error) => showError(error.message)); }

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
