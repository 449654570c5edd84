// galmorph serve, the Ranking tab: the galaxies ranked by interest, and whether the ranking
// and label exports (and the map's "interest" colour) can be had yet.
// Uses el, $, showError, api, fmt, state, NO_SCORES, NO_SESSION and SESSIONLESS from
// common.js; searchCard from cards.js.
"use strict";

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
      class: "muted", text: g.labelled ? `#${g.rank} · your score ${+g.interest.toFixed(2)}`
        : `#${g.rank} · predicted interest ${fmt(g.interest, 1)} of 5`,
    })])));
  } catch (error) {
    if (error.status !== 409) throw error;  // 409: no session, or no scores yet
    $("ranking-info").textContent = error.message;
    $("ranking-grid").replaceChildren();
  }
}
