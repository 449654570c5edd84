// galmorph serve, the Browse tab: pages of galaxies, filtered and sorted on the server.
// Uses el, $, api, run and state from common.js; searchCard from cards.js; addressWith and
// setAddress from app.js.
"use strict";

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
  } catch (error) {  // nothing shown: no pages to turn, no export of other galaxies
    $("page-info").textContent = "";
    $("browse-grid").replaceChildren();
    $("prev").disabled = $("next").disabled = true;
    $("browse-export").removeAttribute("href");
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
  if (!data.total) {
    $("browse-grid").append(el("p", { class: "help", text: state.where
      ? "No galaxy passes this filter: loosen it (a lower threshold, or or instead of and)."
      : state.filter ? "No galaxy id contains this text." : "No galaxies to show." }));
  }
}

function turnPage(step) {
  state.page += step;
  saveBrowse(true);
  run(showBrowse());
}

// The filter form (id text, filter, sort; paging keeps them), and the sort box's
// suggestions: every predicted answer, ascending, descending (of those asked and of all
// volunteers) and by uncertainty, and a
// classifier's columns (`columns`, backquoted where a filter needs it), up and down.
function setUpBrowse(answers, columns) {
  const values = [...answers.flatMap((name) => [name, "-" + name, "-" + name + ".share",
    name + ".uncertainty"]),
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
