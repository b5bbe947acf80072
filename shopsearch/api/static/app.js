// Shopsearch page: plain JavaScript, no framework, no network beyond this app.
"use strict";
const $ = (s) => document.querySelector(s);
const state = {
  text: "", filters: {}, sort: "relevance", page: 1, pageSize: +document.body.dataset.pageSize || 24,
  media: null, mediaKind: null, similarTo: null,
};
const SESSION_KEY = "shopsearch-session";
const session = localStorage.getItem(SESSION_KEY) || (() => {
  const id = "s-" + (crypto.randomUUID ? crypto.randomUUID() : Math.random().toString(36).slice(2) + Date.now().toString(36));
  localStorage.setItem(SESSION_KEY, id); return id;
})();
let last = null;  // the last response: query id and intent, for events and the "why" panels
let searchId = null;  // the query id of page 1 of this search: the one the server logged, for analytics
let seq = 0;      // answers to older requests are dropped

function esc(s) { return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
function el(tag, attrs = {}, text) { const e = document.createElement(tag); Object.assign(e, attrs); if (text != null) e.textContent = text; return e; }

async function search() {
  const body = { text: state.text || null, filters: cleanFilters(), sort: state.sort, page: state.page, page_size: state.pageSize, session };
  const my = ++seq;
  let res;
  $("#summary").textContent = "Searching…";
  try {
    if (state.similarTo) {
      res = await fetch(`/products/${encodeURIComponent(state.similarTo)}/similar?page_size=${state.pageSize}&page=${state.page}`);
    } else if (state.media) {
      const fd = new FormData();
      fd.append("query", JSON.stringify(body));
      fd.append(state.mediaKind, state.media, state.media.name || state.mediaKind);
      res = await fetch("/search", { method: "POST", body: fd });
    } else {
      if (!state.text && !Object.keys(body.filters).length) { render(null); return; }
      res = await fetch("/search", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    }
  } catch (e) { if (my === seq) $("#summary").textContent = "The search service cannot be reached."; return; }
  let data = {};
  try { data = await res.json(); } catch (e) { /* an error page without JSON */ }
  if (my !== seq) return;
  if (!res.ok) { $("#summary").textContent = data.detail || `Search failed (${res.status})`; $("#results").innerHTML = ""; $("#pager").innerHTML = ""; return; }
  render(data);
}

// price_bucket is the page's own note of which price facet is on; the API gets the bounds
function cleanFilters() { const f = { ...state.filters }; delete f.price_bucket; return f; }

function intentBits(i, transcript) {
  const bits = [];
  if (transcript) bits.push(`heard: “${transcript}”`);
  if (!i) return bits;
  if (i.language && i.language !== "en" && i.normalized) bits.push(`read as: “${i.normalized}”`);
  for (const [k, label] of [["types", "type"], ["colour_words", "colour"], ["genders", "for"], ["usages", "use"]]) if ((i[k] || []).length) bits.push(`${label}: ${i[k].join(", ")}`);
  if (i.price_min != null) bits.push(`over ${i.price_min}`);
  if (i.price_max != null) bits.push(`under ${i.price_max}`);
  const neg = [...(i.negated_types || []), ...(i.negated_colours || []), ...(i.negated_usages || []), ...(i.negated_terms || [])];
  if (neg.length) bits.push(`not: ${neg.join(", ")}`);
  if (i.corrections && Object.keys(i.corrections).length) bits.push("corrected: " + Object.entries(i.corrections).map(([a, b]) => `${a}→${b}`).join(", "));
  const weak = Object.entries(i.weak || {}).map(([k, vs]) => Object.keys(vs).join("/")).filter(Boolean);
  if (weak.length) bits.push(`maybe: ${weak.join(", ")}`);
  return bits;
}

// Which word became which catalogue value, how sure, and why (WordNet, the titles, the text model, a synonym)
function mappingLines(i) {
  return ((i && i.mappings) || []).map((m) => `“${m.word}” → ${m.values.slice(0, 3).join(", ")} (${m.source}, ${Math.round(100 * m.confidence)}%${m.gate === "weak boost" ? ", boost only" : ""}): ${m.via}`);
}

function render(data) {
  const results = $("#results");
  if (!data) {
    results.innerHTML = '<p class="empty">Type a search, pick a photo, or drop one anywhere on the page.</p>';
    for (const s of ["#facets", "#pager", "#chips"]) $(s).innerHTML = "";
    $("#summary").textContent = ""; $("#understood").textContent = ""; return;
  }
  last = data;
  if (data.page === 1 || !searchId) searchId = data.query_id;
  const what = state.similarTo ? `like product ${state.similarTo}` : [state.text ? `“${state.text}”` : "", state.mediaKind ? `+ ${state.mediaKind}` : ""].filter(Boolean).join(" ");
  const related = data.related ? ` (+${data.related} related after them)` : "";
  $("#summary").textContent = `${data.total} results${related} ${what} · ${Math.round(data.took_ms)} ms`;
  const bits = intentBits(data.intent, data.transcript);
  if (data.profile) bits.push("personalised for this session");
  $("#understood").textContent = bits.length ? "Understood — " + bits.join(" · ") : "";
  results.innerHTML = data.hits.length ? "" : '<p class="empty">Nothing found. Try fewer words or remove a filter.</p>';
  const offset = (data.page - 1) * data.page_size;
  data.hits.forEach((h, n) => results.appendChild(card(h, offset + n + 1)));
  renderChips();
  renderFacets(data.facets || {});
  renderPager(data.total + (data.related || 0), data.page_size);
}

function card(h, position) {
  const c = el("article", { className: "card" }); c.dataset.id = h.id; c.dataset.position = position;
  const attrs = [h.type, h.colour, h.gender, h.brand].filter(Boolean).join(" · ");
  c.innerHTML = (h.image_url ? `<img src="${esc(h.image_url)}" alt="${esc(h.title)}" loading="lazy" class="open">` : '<div class="noimg open">no photo</div>') +
    `<div class="body"><a class="title open" href="#">${esc(h.title)}</a><div class="attrs">${esc(attrs)}</div>` +
    (h.price != null ? `<div class="price">${h.price.toFixed(2)}</div>` : "") +
    `<div class="actions"><button type="button" class="more">More like this</button><button type="button" class="why" aria-expanded="false">Why?</button></div>` +
    `<div class="why-panel" hidden></div></div>`;
  c.querySelectorAll(".open").forEach((e) => e.addEventListener("click", (ev) => { ev.preventDefault(); openProduct(h.id, position); }));
  c.querySelector(".more").onclick = () => { sendEvent("click", h.id, position); moreLike(h.id); };
  c.querySelector(".why").onclick = (e) => {
    const p = c.querySelector(".why-panel");
    if (!p.childElementCount) p.appendChild(whyTable(h));
    p.hidden = !p.hidden; e.target.classList.toggle("on", !p.hidden); e.target.setAttribute("aria-expanded", String(!p.hidden));
  };
  return c;
}

// The score, the parts that add up to it (largest first), the raw signals behind
// them (cosine similarities, BM25 score), then what the query was understood as.
function whyTable(h) {
  const box = el("div");
  const t = el("table", { className: "parts" });
  const raw = ([k]) => /_(sim|score)$/.test(k);
  const bySize = (a, b) => Math.abs(b[1]) - Math.abs(a[1]);
  const entries = Object.entries(h.parts);
  t.appendChild(row("score", h.score, "total"));
  for (const [k, v] of entries.filter((e) => !raw(e)).sort(bySize)) t.appendChild(row(k, v));
  const signals = entries.filter(raw).sort(bySize);
  if (signals.length) {
    const head = el("tr", { className: "raw-head" }); head.appendChild(el("th", { colSpan: 2 }, "raw signals")); t.appendChild(head);
    for (const [k, v] of signals) t.appendChild(row(k, v, "raw"));
  }
  box.appendChild(t);
  const bits = intentBits(last && last.intent, last && last.transcript);
  box.appendChild(el("p", { className: "intent" }, bits.length ? "query: " + bits.join(" · ") : "query: no attributes recognised"));
  for (const line of mappingLines(last && last.intent)) box.appendChild(el("p", { className: "mapping" }, line));
  for (const r of h.rules || []) box.appendChild(el("p", { className: "rule" }, h.parts.pinned ? `pinned by rule ${r}` : `moved by rule ${r}`));
  return box;
  function row(k, v, cls) { const r = el("tr", { className: cls || "" }); r.appendChild(el("th", {}, k)); r.appendChild(el("td", {}, (k === "score" || cls === "raw" || v < 0 ? "" : "+") + v.toFixed(3))); return r; }
}

function renderFacets(facets) {
  const box = $("#facets"); box.innerHTML = "";
  for (const field of ["type", "colour", "gender", "brand", "price"]) {
    const counts = facets[field]; if (!counts || !Object.keys(counts).length) continue;
    const group = el("div", { className: "group" }); group.dataset.field = field;
    group.appendChild(el("h3", {}, field));
    for (const [value, n] of Object.entries(counts).slice(0, 12)) {
      const b = el("button", { type: "button", className: "facet" }); b.dataset.field = field; b.dataset.value = value;
      const on = field === "price" ? state.filters.price_bucket === value : (state.filters[field] || []).includes(value);
      b.classList.toggle("on", on); b.setAttribute("aria-pressed", String(on));
      b.innerHTML = `<span class="v">${esc(value)}</span><span class="n">${n}</span>`;
      b.onclick = () => toggleFacet(field, value); group.appendChild(b);
    }
    box.appendChild(group);
  }
  const active = activeFilters().length;
  $("#toggle-facets").textContent = active ? `Filters (${active})` : "Filters";
}

function activeFilters() {
  const out = [];
  for (const field of ["type", "colour", "gender", "brand"]) for (const v of state.filters[field] || []) out.push([field, v]);
  if (state.filters.price_bucket) out.push(["price", state.filters.price_bucket]);
  return out;
}

function renderChips() {
  const box = $("#chips"); box.innerHTML = "";
  const active = activeFilters(); if (!active.length) return;
  for (const [field, value] of active) {
    const b = el("button", { type: "button", className: "chip", title: "Remove this filter" }, `${value} ×`); b.dataset.field = field; b.dataset.value = value;
    b.onclick = () => toggleFacet(field, value); box.appendChild(b);
  }
  const all = el("button", { type: "button", className: "chip clear" }, "Clear all");
  all.onclick = () => { state.filters = {}; state.page = 1; search(); }; box.appendChild(all);
}

function toggleFacet(field, value) {
  const f = state.filters;
  if (field === "price") {
    delete f.price_min; delete f.price_max;
    if (f.price_bucket === value) delete f.price_bucket;
    else {
      // buckets are [lo, hi); the API's bounds are inclusive
      const [lo, hi] = value.replace("+", "-").split("-"); f.price_bucket = value; f.price_min = +lo;
      if (hi) f.price_max = +hi - 0.001;
    }
  } else {
    const cur = new Set(f[field] || []); cur.has(value) ? cur.delete(value) : cur.add(value);
    if (cur.size) f[field] = [...cur]; else delete f[field];
  }
  state.page = 1; state.similarTo = null;
  // on a phone the rail covers the results: fold it away once a value is picked
  if (getComputedStyle($("#toggle-facets")).display !== "none") { $("#facets").classList.remove("open"); $("#toggle-facets").setAttribute("aria-expanded", "false"); }
  search();
}

function renderPager(total, pageSize) {
  const pages = Math.ceil(total / pageSize), nav = $("#pager"); nav.innerHTML = "";
  if (pages <= 1) return;
  const add = (label, page, cls) => {
    const b = el("button", { type: "button", className: cls || "" }, label); b.dataset.page = page;
    if (cls === "on") b.setAttribute("aria-current", "page");
    b.onclick = () => { state.page = page; search(); window.scrollTo(0, 0); }; nav.appendChild(b);
  };
  if (state.page > 1) add("‹ Prev", state.page - 1, "prev");
  const from = Math.max(1, Math.min(state.page - 3, pages - 6)), to = Math.min(pages, from + 6);
  for (let p = from; p <= to; p++) add(String(p), p, p === state.page ? "on" : "");
  if (state.page < pages) add("Next ›", state.page + 1, "next");
}

function sendEvent(type, productId, position) {
  const body = { type, session_id: session, product_id: productId, query_id: searchId || (last ? last.query_id : null), query_text: state.text || null, position };
  return fetch("/events", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), keepalive: true }).catch(() => {});
}

// Opening a product is the click the ranking learns from.
async function openProduct(id, position) {
  sendEvent("click", id, position);
  const res = await fetch(`/products/${encodeURIComponent(id)}`);
  if (!res.ok) return;
  const p = await res.json();
  const d = $("#product"); d.dataset.id = p.id;
  $("#product-title").textContent = p.title;
  const img = $("#product-img"); img.hidden = !p.image_url; if (p.image_url) { img.src = p.image_url; img.alt = p.title; }
  const dl = $("#product-attrs"); dl.innerHTML = "";
  const rows = [["type", p.type], ["colour", p.colour], ["for", p.gender], ["brand", p.brand], ["price", p.price != null ? p.price.toFixed(2) : ""], ...Object.entries(p.attrs || {})];
  for (const [k, v] of rows) if (v) { dl.appendChild(el("dt", {}, k)); dl.appendChild(el("dd", {}, v)); }
  $("#product-desc").textContent = p.description || "";
  $("#product-more").onclick = () => { d.close(); moreLike(p.id); };
  if (!d.open) d.showModal();
}
$("#product-close").onclick = () => $("#product").close();
$("#product").addEventListener("click", (e) => { if (e.target === e.currentTarget) e.currentTarget.close(); });  // the backdrop

function moreLike(id) { state.similarTo = id; state.page = 1; search(); window.scrollTo(0, 0); }

function setMedia(file, kind) {
  state.media = file; state.mediaKind = kind; state.similarTo = null; state.page = 1;
  $("#query-media").hidden = false;
  const thumb = $("#query-thumb");
  if (kind === "image") { thumb.src = URL.createObjectURL(file); thumb.hidden = false; } else { thumb.hidden = true; }
  $("#query-label").textContent = kind === "image" ? "searching with your photo" : `searching with your ${kind === "audio" ? "voice" : kind}`;
  search();
}

// autocomplete
let sugTimer = null, sugIndex = -1;
$("#q").addEventListener("input", () => {
  clearTimeout(sugTimer);
  sugTimer = setTimeout(async () => {
    const q = $("#q").value, ul = $("#suggest");
    if (!q.trim()) { ul.hidden = true; return; }
    let data;
    try { data = await (await fetch(`/suggest?q=${encodeURIComponent(q)}`)).json(); } catch (e) { return; }
    if (document.activeElement !== $("#q") || $("#q").value !== q) return;  // the shopper moved on
    ul.innerHTML = ""; sugIndex = -1;
    for (const s of data.suggestions || []) {
      const li = el("li", { role: "option" }, s);
      li.onmousedown = (e) => { e.preventDefault(); $("#q").value = s; ul.hidden = true; submit(); };
      ul.appendChild(li);
    }
    ul.hidden = !ul.children.length;
  }, 120);
});
$("#q").addEventListener("keydown", (e) => {
  const items = [...$("#suggest").children]; if ($("#suggest").hidden || !items.length) return;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault(); sugIndex = (sugIndex + (e.key === "ArrowDown" ? 1 : -1) + items.length) % items.length;
    items.forEach((li, i) => li.classList.toggle("active", i === sugIndex)); $("#q").value = items[sugIndex].textContent;
  }
  if (e.key === "Escape") $("#suggest").hidden = true;
});
$("#q").addEventListener("blur", () => setTimeout(() => { $("#suggest").hidden = true; }, 150));

function submit() {
  clearTimeout(sugTimer); state.text = $("#q").value.trim(); state.page = 1; state.similarTo = null; $("#suggest").hidden = true;
  const url = new URL(location.href); if (state.text) url.searchParams.set("q", state.text); else url.searchParams.delete("q");
  history.replaceState(null, "", url);
  search();
}
$("#search-form").addEventListener("submit", (e) => { e.preventDefault(); submit(); });
$("#sort").onchange = (e) => { state.sort = e.target.value; state.page = 1; search(); };
$("#image").onchange = (e) => e.target.files[0] && setMedia(e.target.files[0], "image");
$("#camera").onchange = (e) => e.target.files[0] && setMedia(e.target.files[0], "image");
$("#video").onchange = (e) => e.target.files[0] && setMedia(e.target.files[0], "video");
$("#clear-media").onclick = () => {
  state.media = null; state.mediaKind = null; $("#query-media").hidden = true; state.page = 1;
  for (const s of ["#image", "#camera", "#video"]) $(s).value = "";
  search();
};
$("#toggle-facets").onclick = () => { const open = $("#facets").classList.toggle("open"); $("#toggle-facets").setAttribute("aria-expanded", String(open)); };

// drag and drop a photo anywhere
let dragDepth = 0;
window.addEventListener("dragenter", (e) => { e.preventDefault(); dragDepth++; $("#drop-hint").hidden = false; });
window.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; $("#drop-hint").hidden = true; } });
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => {
  e.preventDefault(); dragDepth = 0; $("#drop-hint").hidden = true;
  const f = e.dataTransfer.files[0];
  if (f && f.type.startsWith("image/")) setMedia(f, "image");
  else if (f && f.type.startsWith("video/")) setMedia(f, "video");
});

// voice: record with the microphone, send as audio
let recorder = null;
$("#mic").onclick = async () => {
  if (recorder && recorder.state === "recording") { recorder.stop(); return; }
  if (!navigator.mediaDevices || !window.MediaRecorder) { $("#summary").textContent = "This browser cannot record audio."; return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const chunks = []; recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => chunks.push(e.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop()); $("#mic").classList.remove("recording"); $("#mic").textContent = "Voice";
      const type = recorder.mimeType || "audio/webm", ext = type.includes("mp4") ? "m4a" : type.includes("ogg") ? "ogg" : "webm";
      setMedia(new File([new Blob(chunks, { type })], `voice.${ext}`, { type }), "audio");
    };
    recorder.start(); $("#mic").classList.add("recording"); $("#mic").textContent = "Stop";
    setTimeout(() => recorder && recorder.state === "recording" && recorder.stop(), 8000);
  } catch (e) { $("#summary").textContent = "Microphone not available: " + e.message; }
};

if ($("#q").value.trim()) submit(); else render(null);
