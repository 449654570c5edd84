// galmorph serve, the Label tab: a batch of galaxies to score (0 to 5, by click or key),
// the scores sent in order, and Retrain.
// Uses el, $, showError, api, fmt, state and SESSIONLESS from common.js; card from
// cards.js; setLabelCount from ranking.js.
"use strict";

// How a batch was chosen, by its method (the others: the most unusual by that method).
const CHOSEN = {
  "cold-start": "spread over every kind of galaxy (no scores yet)",
  active: "where your scores so far promise the most, or know the least",
};

// What a batch's method made of a galaxy: active learning's predicted score and its
// uncertainty, or a baseline's outlier score (scaled to 0-5), said as such.
function predictedLine(galaxy) {
  if (galaxy.predicted === null) {
    return el("div", { class: "muted", text: "first batch: spread over the catalog" });
  }
  if (state.batchMethod !== "active") {
    return el("div", { class: "muted",
      text: `outlier score ${fmt(galaxy.predicted, 1)} of 5 (${state.batchMethod})` });
  }
  return el("div", { class: "muted",
    text: `your predicted score ${fmt(galaxy.predicted, 1)} of 5, give or take ${fmt(galaxy.std, 1)}`,
    title: "What your scores so far predict for this galaxy, and the model's uncertainty " +
      "(one standard deviation): a large one means it cannot tell yet" });
}

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
  const node = card(galaxy, [predictedLine(galaxy), buttons],
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
  state.batchMethod = data.method;
  const waiting = state.batch.findIndex((g) => g.score === null || g.score === undefined);
  state.current = waiting >= 0 ? waiting : 0;
  $("label-info").textContent = `${data.n_labels} labels · batch ${data.batch}: ` +
    (CHOSEN[data.method] || `the most unusual by ${data.method}`);
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
  // the batch done, Retrain (above the cards) comes into view, as on a phone's long column
  if (waiting < 0) $("retrain").scrollIntoView({ block: "nearest" });
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
    const unscored = state.batch.filter((g) => g.score === null || g.score === undefined).length;
    const data = await api("/api/anomaly/retrain", { method: "POST" });
    useBatch(data);
    const skipped = data.retrained && unscored
      ? ` (${unscored} of the last batch not scored: they stay unlabelled)` : "";
    $("label-status").textContent = !data.retrained
      ? "Nothing to retrain on yet: score some of these galaxies first (click a score or press 0–5)."
      : data.notice ? `Retrained${skipped}, but ${data.notice}.`
        : `Retrained on all your scores${skipped}: here is the next batch.`;
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
