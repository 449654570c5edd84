// galmorph serve: one galaxy's page, /galaxy/ID. The id is read from the address and
// everything from the catalog is inserted with textContent, never as HTML.
// Uses $, api, showError, fmt, imageUrl and galaxyUrl from common.js.
"use strict";

function node(tag, className = "", text = null) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== null) made.textContent = text;
  return made;
}

// An ISO time as "2026-12-06 17:22" in UTC (the table says UTC); as it is if unreadable.
function utcMinute(text) {
  const time = new Date(text);
  return Number.isNaN(time.getTime()) ? text : time.toISOString().slice(0, 16).replace("T", " ");
}

function percent(value) { return `${Math.max(0, Math.min(1, value || 0)) * 100}%`; }

// One answer: its label, a bar of the predicted fraction with the 90% interval, the numbers
// (a regressor's value has no bar).
function answerRow(answer, isValue) {
  const row = node("div", "answer");
  row.dataset.answer = answer.answer;
  if (isValue) {
    row.append(node("span", "", answer.label), node("span", "muted", fmt(answer.fraction, 3)));
    return row;
  }
  const track = node("div", "track");
  const fill = node("div", "fill");
  fill.style.width = percent(answer.fraction);
  track.append(fill);
  if (answer.lower90 !== null && answer.upper90 !== null) {
    const interval = node("div", "interval");
    interval.style.left = percent(answer.lower90);
    interval.style.width = percent(answer.upper90 - answer.lower90);
    track.append(interval);
  }
  const interval = answer.lower90 === null && answer.upper90 === null ? ""
    : ` [${fmt(answer.lower90, 2)}, ${fmt(answer.upper90, 2)}]`;
  const numbers = fmt(answer.fraction, 2) + interval;
  row.append(node("span", "", answer.label), track, node("span", "muted", numbers));
  return row;
}

function questionBlock(question) {
  const unlikely = question.asked !== null && question.asked < 0.5;
  const block = node("div", unlikely ? "question unlikely" : "question");
  block.dataset.question = question.question;
  // a classifier's class question has no "asked"
  const asked = question.asked === null ? "" : ` · asked ${fmt(question.asked, 2)}`;
  block.append(node("h4", "", question.label + asked));
  for (const answer of question.answers) block.append(answerRow(answer, question.value));
  return block;
}

// What the bars mean when no question is Galaxy Zoo's (volunteer fractions with 90%
// intervals): a fine-tuned classifier's class probabilities or a regressor's value. Null: as
// the page says.
function answersHelp(questions) {
  if (questions.some((question) => question.asked !== null)) return null;
  if (questions.some((question) => question.question === "class")) {
    return "Each bar is the fine-tuned classifier's probability of that class (they add up to 1).";
  }
  return "The fine-tuned model's predicted value.";
}

// A galaxy's image, or a square saying it has none or it cannot be read (as on the main page);
// `alt` is empty on a card, whose caption names the galaxy.
function galaxyImage(galaxy, alt = "") {
  if (!galaxy.has_image) return node("div", "no-image", "no image file");
  const image = node("img");
  Object.assign(image, { src: imageUrl(galaxy.id), alt, loading: "lazy" });
  const unreadable = () => image.replaceWith(node("div", "no-image", "image cannot be read"));
  image.addEventListener("error", unreadable);
  return image;
}

function neighbourCard(galaxy) {
  const card = node("figure", "card");
  card.dataset.id = galaxy.id;
  card.append(galaxyImage(galaxy));
  card.append(node("figcaption", "id", galaxy.id),
    node("div", "muted", `#${galaxy.rank}, distance ${fmt(galaxy.distance, 3)}`));
  for (const item of galaxy.summary || []) {
    card.append(node("div", "muted", `${item.text} ${fmt(item.fraction, 2)}`));
  }
  const link = node("a");
  link.href = galaxyUrl(galaxy.id);
  link.append(card);
  return link;
}

function showHistory(data) {
  const table = $("galaxy-history");
  if (!data.has_session) {
    $("history-info").textContent = "no labels: no labelling session (galmorph serve --session FILE.db)";
    return;
  }
  if (!data.history.length) {
    $("history-info").textContent = "no labels yet for this galaxy";
    return;
  }
  $("history-info").textContent = `${data.history.length} labels, oldest first`;
  table.tBodies[0].replaceChildren(...data.history.map((record) => {
    const row = node("tr");
    row.append(node("td", "", String(record.score)), node("td", "", utcMinute(record.labelled_at)),
      node("td", "", record.source), node("td", "", record.previous === null ? "–" : String(record.previous)));
    return row;
  }));
  table.hidden = false;
}

// Score buttons 0 to 5 with a labelling session, the galaxy's score marked: a score given here
// is stored at once, as on the Label tab, and the hunt's next Retrain learns from it.
function showScoring(data) {
  if (!data.has_session) return;
  const score = data.galaxy.score;
  const buttons = [0, 1, 2, 3, 4, 5].map((value) => {
    const button = node("button", value === score ? "chosen" : "", String(value));
    Object.assign(button, { type: "button", title: `score ${value}` });
    button.setAttribute("aria-pressed", String(value === score));
    button.addEventListener("click", () => giveScore(data.galaxy.id, value).catch((e) => showError(e.message)));
    return button;
  });
  $("galaxy-scores").replaceChildren(...buttons);
  $("galaxy-score").textContent = score === null || score === undefined ? "not scored yet"
    : `your score: ${score}`;
  $("galaxy-scoring").hidden = false;
}

// One score at a time: the buttons wait for the server, so that a double click stores one
// score and the marked button is the last one given.
async function giveScore(id, score) {
  const buttons = $("galaxy-scores").querySelectorAll("button");
  buttons.forEach((button) => { button.disabled = true; });
  let answer, data;
  try {
    answer = await api("/api/anomaly/label", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ id, score }) });
    data = await api("/api/galaxy/" + encodeURIComponent(id));
  } finally {
    buttons.forEach((button) => { button.disabled = false; });
  }
  showScoring(data);
  showHistory(data);
  const all = `${answer.n_labels} label${answer.n_labels === 1 ? "" : "s"} in all`;
  $("galaxy-score").textContent =
    `your score: ${answer.score}, stored (${all}): Retrain on the Label tab to use it`;
}

// Sky viewers and archives at the galaxy's position, each opened in a new tab.
function showLinks(links) {
  if (!links || !links.length) return;
  const anchors = links.map((link) => {
    const anchor = node("a", "", link.name);
    anchor.href = link.url;
    anchor.title = link.title;
    anchor.target = "_blank";
    anchor.rel = "noopener noreferrer";
    return anchor;
  });
  const list = $("galaxy-link-list");
  anchors.forEach((anchor, i) => list.append(...(i ? [" · ", anchor] : [anchor])));
  $("galaxy-links").hidden = false;
}

function showGalaxy(data) {
  const galaxy = data.galaxy;
  const image = galaxyImage(galaxy, `Image of galaxy ${galaxy.id}`);
  image.id = "galaxy-image";
  $("galaxy-image").replaceWith(image);
  if (galaxy.ra !== undefined) {
    $("galaxy-position").textContent = `RA ${fmt(galaxy.ra, 5)}, Dec ${fmt(galaxy.dec, 5)}`;
  }
  showLinks(data.links);
  showScoring(data);
  $("galaxy-search").href = "/#search/" + encodeURIComponent(galaxy.id);
  if (data.questions.length) {
    $("galaxy-answers").replaceChildren(...data.questions.map(questionBlock));
    const help = answersHelp(data.questions);
    if (help) $("answers-help").textContent = help;
  } else {
    $("answers-help").textContent = "no predictions: start galmorph serve with --predictions";
  }
  $("neighbours-info").textContent = `${data.neighbours.length} nearest galaxies (${data.metric} distance)`;
  $("galaxy-neighbours").replaceChildren(...data.neighbours.map(neighbourCard));
  showHistory(data);
  $("galaxy").hidden = false;
}

// The id in the address: percent-decoded, or as it is where that fails ("/galaxy/100%").
function addressId() {
  const text = location.pathname.slice("/galaxy/".length);
  try {
    return decodeURIComponent(text);
  } catch (error) {
    return text;
  }
}

async function start() {
  const id = addressId();
  document.title = `galmorph: ${id}`;
  $("galaxy-id").textContent = id;
  showGalaxy(await api("/api/galaxy/" + encodeURIComponent(id)));
}

start().catch((error) => showError(error.message));
