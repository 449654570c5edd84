// galmorph serve, the Search tab: the galaxies most like one (by id or position), like
// several together (ids separated by commas) or like an uploaded image, and their export
// as CSV.
// Uses el, $, showError, api, fmt, run and state from common.js; card and searchCard from
// cards.js; addressWith, setAddress, addressParam and route from app.js.
"use strict";

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

// Search for galaxy `id` (or a position) with the form's "How many": a new history entry.
function goSearch(id) {
  const k = kParam(searchK($("search-k").value));
  setAddress(addressWith({ k }, "#search/" + encodeURIComponent(id)), true);
  run(route());
}

// The query's card (or the examples' cards) and the galaxies found, each saying its rank,
// distance and, for several examples, the one it is most like.
function showResults(data, queryCards) {
  $("search-query").replaceChildren(...[].concat(queryCards));
  const examples = data.query.examples;
  const found = examples
    ? (examples.length > 1
      ? `${data.neighbours.length} galaxies most like the ${examples.length} examples together ` +
        `(${data.metric} distance to their mean)`
      : `${data.neighbours.length} galaxies most like the example (${data.metric} distance)`)
    : `${data.neighbours.length} nearest galaxies (${data.metric} distance)`;
  searchStatus(`${found}; distance 0: the same image, larger: less alike`);
  $("search-grid").replaceChildren(...data.neighbours.map((g) => searchCard(g, [
    el("div", { class: "muted", text: `#${g.rank}, distance ${fmt(g.distance, 3)}` }),
    ...(g.like ? [el("div", { class: "muted", text: `most like ${g.like}` })] : [])])));
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
  const examples = data.query.examples;
  const columns = ["rank", "id_str", "ra", "dec", "distance",
    ...(examples ? ["nearest_example"] : [])];
  const rows = data.neighbours.map((g) => [g.rank, g.id, g.ra, g.dec, g.distance,
    ...(examples ? [g.like] : [])]);
  const text = [columns, ...rows].map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
  link.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  link.download = `similar-to-${data.query.id.replace(/[^\w.+-]+/g, "_").slice(0, 80)}.csv`;
  link.title = examples
    ? `the ${rows.length} galaxies found, with their ${data.metric} distance to the mean of ` +
      `${data.query.id} and the example each is nearest to`
    : `the ${rows.length} galaxies found, with their ${data.metric} distance to ${data.query.id}`;
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

// A galaxy by id (any case), by position "RA Dec" in degrees, or several ids separated by
// commas (the galaxies most like all of them).
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
    const queries = (data.query.examples || [data.query]).map((galaxy) => {
      const query = card(galaxy, data.query.examples
        ? [el("div", { class: "muted", text: "example" })] : extras);
      query.classList.add("query");
      return query;
    });
    showResults(data, queries);
    if ((data.query.notes || []).length) {
      $("search-status").textContent += `. Note: ${data.query.notes.join(" ")}`;
    }
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
