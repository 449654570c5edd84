// galmorph serve: a galaxy as a card (image, id, position, predicted morphology, a link to
// its page), and the card whose click searches for the galaxies most like it.
// Uses el, imageUrl, galaxyUrl and fmt from common.js; goSearch from search.js.
"use strict";

// An id as text that may break only before the sign of its declination (J090203.35+590529.9),
// so that a name too long for its card never splits mid-number.
function idParts(id) {
  return id.split(/(?=[+-]\d)/).flatMap((part, i) => (i ? [el("wbr"), part] : [part]));
}

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
  node.append(el("figcaption", { class: "id" }, ...idParts(galaxy.id)));
  if (galaxy.ra !== undefined) {
    node.append(el("div", { class: "muted", text: `RA ${fmt(galaxy.ra, 4)}, Dec ${fmt(galaxy.dec, 4)}` }));
  }
  for (const item of galaxy.summary || []) {
    node.append(el("div", { class: "muted", text: `${item.text} ${fmt(item.fraction, 2)}` }));
  }
  if (galaxy.sorted) {  // the value the page is sorted by, to see why it comes here
    const { name, value } = galaxy.sorted;
    node.append(el("div", { class: "sorted", text: `${name} ${fmt(value, 3)}` }));
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

function searchLink(galaxy) { return () => goSearch(galaxy.id); }

// A card whose click (or Similar button) shows the galaxies most like it.
function searchCard(galaxy, extras = []) {
  return card(galaxy, extras, searchLink(galaxy),
    { text: "Similar", label: `galaxies most like ${galaxy.id}` });
}
