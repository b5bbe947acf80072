// Shopsearch page: plain JavaScript, no framework, no network beyond this app.
"use strict";
const $ = (s) => document.querySelector(s);
const state = { text: "", filters: {}, sort: "relevance", page: 1, pageSize: 24, media: null, mediaKind: null, similarTo: null };
const session = localStorage.getItem("shopsearch-session") || (() => {
  const id = "s-" + Math.random().toString(36).slice(2) + Date.now().toString(36);
  localStorage.setItem("shopsearch-session", id); return id;
})();
let lastQueryId = null;

function esc(s) { return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }

async function search() {
  const body = { text: state.text || null, filters: state.filters, sort: state.sort, page: state.page, page_size: state.pageSize, session };
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
      if (!state.text && !Object.keys(state.filters).length) { render(null); return; }
      res = await fetch("/search", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    }
  } catch (e) { $("#summary").textContent = "The search service cannot be reached."; return; }
  const data = await res.json();
  if (!res.ok) { $("#summary").textContent = data.detail || "Search failed"; $("#results").innerHTML = ""; return; }
  render(data);
}

function render(data) {
  const results = $("#results");
  if (!data) { results.innerHTML = '<p class="empty">Type a search, or drop a photo anywhere on the page.</p>'; $("#facets").innerHTML = ""; $("#summary").textContent = ""; $("#pager").innerHTML = ""; return; }
  lastQueryId = data.query_id;
  const what = state.similarTo ? `like product ${state.similarTo}` : (state.text ? `“${state.text}”` : state.mediaKind || "");
  $("#summary").textContent = `${data.total} results ${what} · ${Math.round(data.took_ms)} ms`;
  const i = data.intent || {};
  const bits = [];
  if (data.transcript) bits.push(`heard: “${data.transcript}”`);
  for (const [k, label] of [["types", "type"], ["colour_words", "colour"], ["genders", "for"]]) if ((i[k] || []).length) bits.push(`${label}: ${i[k].join(", ")}`);
  if (i.price_max != null) bits.push(`under ${i.price_max}`); if (i.price_min != null) bits.push(`over ${i.price_min}`);
  const neg = [...(i.negated_types || []), ...(i.negated_colours || []), ...(i.negated_usages || []), ...(i.negated_terms || [])];
  if (neg.length) bits.push(`not: ${neg.join(", ")}`);
  if (i.corrections && Object.keys(i.corrections).length) bits.push("corrected: " + Object.entries(i.corrections).map(([a, b]) => `${a}→${b}`).join(", "));
  if (data.profile) bits.push("personalised for this session");
  $("#understood").textContent = bits.length ? "Understood — " + bits.join(" · ") : "";
  results.innerHTML = data.hits.length ? "" : '<p class="empty">Nothing found. Try fewer words or remove a filter.</p>';
  data.hits.forEach((h, n) => {
    const card = document.createElement("article");
    card.className = "card"; card.dataset.id = h.id;
    const attrs = [h.type, h.colour, h.gender, h.brand].filter(Boolean).join(" · ");
    const why = Object.entries(h.parts).map(([k, v]) => `${k}: ${v.toFixed(3)}`).join("\n");
    card.innerHTML = (h.image_url ? `<img src="${h.image_url}" alt="${esc(h.title)}" loading="lazy">` : '<div class="noimg">no photo</div>') +
      `<div class="body"><div class="title">${esc(h.title)}</div><div class="attrs">${esc(attrs)}</div>` +
      (h.price != null ? `<div class="price">${h.price.toFixed(2)}</div>` : "") +
      `<div class="actions"><button type="button" class="more">More like this</button><button type="button" class="why">Why?</button></div>` +
      `<pre class="why-panel" hidden>score ${h.score.toFixed(4)}\n${esc(why)}</pre></div>`;
    card.querySelector(".more").onclick = () => { sendEvent("click", h.id, n + 1); state.similarTo = h.id; state.page = 1; search(); };
    card.querySelector(".why").onclick = (e) => { const p = card.querySelector(".why-panel"); p.hidden = !p.hidden; e.target.classList.toggle("on", !p.hidden); };
    const img = card.querySelector("img"); if (img) img.onclick = () => sendEvent("click", h.id, n + 1);
    results.appendChild(card);
  });
  renderFacets(data.facets || {});
  renderPager(data.total);
}

function renderFacets(facets) {
  const box = $("#facets"); box.innerHTML = "";
  for (const field of ["type", "colour", "gender", "brand", "price"]) {
    const counts = facets[field]; if (!counts || !Object.keys(counts).length) continue;
    const h = document.createElement("h3"); h.textContent = field; box.appendChild(h);
    for (const [value, n] of Object.entries(counts).slice(0, 12)) {
      const b = document.createElement("button"); b.type = "button"; b.className = "facet";
      b.dataset.field = field; b.dataset.value = value;
      const on = field === "price" ? state.filters.price_bucket === value : (state.filters[field] || []).includes(value);
      if (on) b.classList.add("on");
      b.innerHTML = `<span>${esc(value)}</span><span class="n">${n}</span>`;
      b.onclick = () => toggleFacet(field, value); box.appendChild(b);
    }
  }
}

function toggleFacet(field, value) {
  const f = state.filters;
  if (field === "price") {
    if (f.price_bucket === value) { delete f.price_bucket; delete f.price_min; delete f.price_max; }
    else { const [lo, hi] = value.replace("+", "-").split("-"); f.price_bucket = value; f.price_min = +lo; if (hi) f.price_max = +hi; else delete f.price_max; }
  } else {
    const cur = new Set(f[field] || []); cur.has(value) ? cur.delete(value) : cur.add(value);
    if (cur.size) f[field] = [...cur]; else delete f[field];
  }
  state.page = 1; state.similarTo = null; search();
}

function renderPager(total) {
  const pages = Math.ceil(total / state.pageSize), nav = $("#pager"); nav.innerHTML = "";
  if (pages <= 1) return;
  const add = (label, page, on) => { const b = document.createElement("button"); b.type = "button"; b.textContent = label; b.dataset.page = page; if (on) b.className = "on"; b.onclick = () => { state.page = page; search(); window.scrollTo(0, 0); }; nav.appendChild(b); };
  if (state.page > 1) add("‹ Prev", state.page - 1);
  const from = Math.max(1, state.page - 3), to = Math.min(pages, from + 6);
  for (let p = from; p <= to; p++) add(String(p), p, p === state.page);
  if (state.page < pages) add("Next ›", state.page + 1);
}

function sendEvent(type, productId, position) {
  const body = { type, session_id: session, product_id: productId, query_id: lastQueryId, query_text: state.text || null, position };
  fetch("/events", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), keepalive: true }).catch(() => {});
}

function setMedia(file, kind) {
  state.media = file; state.mediaKind = kind; state.similarTo = null; state.page = 1;
  $("#query-media").hidden = false;
  const thumb = $("#query-thumb");
  if (kind === "image") { thumb.src = URL.createObjectURL(file); thumb.hidden = false; } else { thumb.hidden = true; }
  $("#query-label").textContent = kind === "image" ? "searching with your photo" : `searching with your ${kind}`;
  search();
}

// autocomplete
let sugTimer = null, sugIndex = -1;
$("#q").addEventListener("input", () => {
  clearTimeout(sugTimer);
  sugTimer = setTimeout(async () => {
    const q = $("#q").value; const ul = $("#suggest");
    if (!q.trim()) { ul.hidden = true; return; }
    const res = await fetch(`/suggest?q=${encodeURIComponent(q)}`); const data = await res.json();
    if (document.activeElement !== $("#q") || $("#q").value !== q) return;  // the shopper moved on
    ul.innerHTML = ""; sugIndex = -1;
    for (const s of data.suggestions || []) { const li = document.createElement("li"); li.textContent = s; li.onmousedown = () => { $("#q").value = s; ul.hidden = true; submit(); }; ul.appendChild(li); }
    ul.hidden = !ul.children.length;
  }, 120);
});
$("#q").addEventListener("keydown", (e) => {
  const items = [...$("#suggest").children]; if ($("#suggest").hidden || !items.length) return;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") { e.preventDefault(); sugIndex = (sugIndex + (e.key === "ArrowDown" ? 1 : -1) + items.length) % items.length; items.forEach((li, i) => li.classList.toggle("active", i === sugIndex)); $("#q").value = items[sugIndex].textContent; }
  if (e.key === "Escape") $("#suggest").hidden = true;
});
$("#q").addEventListener("blur", () => setTimeout(() => { $("#suggest").hidden = true; }, 150));

function submit() { clearTimeout(sugTimer); state.text = $("#q").value.trim(); state.page = 1; state.similarTo = null; $("#suggest").hidden = true; search(); }
$("#search-form").addEventListener("submit", (e) => { e.preventDefault(); submit(); });
$("#sort").onchange = (e) => { state.sort = e.target.value; state.page = 1; search(); };
$("#image").onchange = (e) => e.target.files[0] && setMedia(e.target.files[0], "image");
$("#camera").onchange = (e) => e.target.files[0] && setMedia(e.target.files[0], "image");
$("#video").onchange = (e) => e.target.files[0] && setMedia(e.target.files[0], "video");
$("#clear-media").onclick = () => { state.media = null; state.mediaKind = null; $("#query-media").hidden = true; state.page = 1; search(); };
$("#toggle-facets").onclick = () => $("#facets").classList.toggle("open");

// drag and drop a photo anywhere
let dragDepth = 0;
window.addEventListener("dragenter", (e) => { e.preventDefault(); dragDepth++; $("#drop-hint").hidden = false; });
window.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; $("#drop-hint").hidden = true; } });
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => { e.preventDefault(); dragDepth = 0; $("#drop-hint").hidden = true; const f = e.dataTransfer.files[0]; if (f && f.type.startsWith("image/")) setMedia(f, "image"); });

// voice: record with the microphone, send as audio
let recorder = null;
$("#mic").onclick = async () => {
  if (recorder && recorder.state === "recording") { recorder.stop(); return; }
  if (!navigator.mediaDevices || !window.MediaRecorder) { $("#summary").textContent = "This browser cannot record audio."; return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const chunks = []; recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => chunks.push(e.data);
    recorder.onstop = () => { stream.getTracks().forEach((t) => t.stop()); $("#mic").classList.remove("recording"); $("#mic").textContent = "Voice"; const blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" }); setMedia(new File([blob], "voice.webm", { type: blob.type }), "audio"); };
    recorder.start(); $("#mic").classList.add("recording"); $("#mic").textContent = "Stop";
    setTimeout(() => recorder && recorder.state === "recording" && recorder.stop(), 8000);
  } catch (e) { $("#summary").textContent = "Microphone not available: " + e.message; }
};

const initial = new URLSearchParams(location.search).get("q");
if (initial) { $("#q").value = initial; submit(); } else render(null);
