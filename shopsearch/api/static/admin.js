// The operator dashboard: analytics charts (chart.js, served from /static/vendor),
// zero-result queries with one-click "add a synonym" / "add a rule", and A/B tests.
// The admin token lives in sessionStorage and goes as a Bearer header on every call.
// Shoppers' queries are shown with textContent only (never as HTML).
"use strict";

const KEY = "shopsearch-admin-token";
const $ = (sel) => document.querySelector(sel);
const charts = {};

function token() { return sessionStorage.getItem(KEY) || ""; }

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token() }, options.headers || {});
  if (options.body && typeof options.body !== "string") {
    options.body = JSON.stringify(options.body);
    headers["Content-Type"] = "application/json";
  }
  const r = await fetch(path, Object.assign({}, options, { headers }));
  const data = await r.json().catch(() => ({}));
  if (r.status === 401 || r.status === 403) { showLogin(data.detail || data.message || "not allowed"); throw new Error("auth"); }
  if (!r.ok) throw new Error(data.detail || ("HTTP " + r.status));
  return data;
}

function showLogin(error) {
  $("#board").classList.add("hidden");
  $("#login").classList.remove("hidden");
  $("#login-error").textContent = error || "";
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function slug(text) {
  return (text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "q").slice(0, 60) +
    "-" + Math.random().toString(36).slice(2, 6);
}

function chart(id, type, labels, values, label) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart($(id), {
    type, data: { labels, datasets: [{ label, data: values, backgroundColor: "#2b5cd6" }] },
    options: { animation: false, responsive: true, indexAxis: type === "bar" && id === "#top-chart" ? "y" : "x",
               plugins: { legend: { display: false } } },
  });
}

function row(tbody, cells) {
  const tr = el("tr");
  cells.forEach((c, i) => tr.append(el("td", typeof c === "number" && i ? { class: "n" } : {}, c)));
  tbody.append(tr);
  return tr;
}

function fixForm(tr, query, kind) {
  const cell = tr.querySelector("td:last-child");
  cell.querySelectorAll("form").forEach((f) => f.remove());
  const input = el("input", {
    size: 36, class: kind + "-words",
    placeholder: kind === "synonym" ? "words it means, comma separated (e.g. watch)" : "product ids to pin, comma separated",
  });
  const msg = el("span", { class: "msg" });
  const form = el("form", { class: "inline " + kind + "-form" }, input,
    el("button", { class: "primary", type: "submit" }, kind === "synonym" ? "Save synonym" : "Save rule"), msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const words = input.value.split(",").map((w) => w.trim()).filter(Boolean);
    if (!words.length) { msg.textContent = "give at least one"; msg.className = "err"; return; }
    try {
      if (kind === "synonym") {
        await api("/admin/synonyms", { method: "POST", body: { id: slug(query), input: query, synonyms: words } });
        msg.textContent = "saved: “" + query + "” now also finds " + words.join(", ");
      } else {
        await api("/admin/rules", { method: "POST", body: {
          id: slug(query), match: { query }, pin: words.map((id, i) => ({ id, position: i + 1 })),
          note: "from the dashboard's zero-result list" } });
        msg.textContent = "saved: pinned " + words.join(", ");
      }
      msg.className = "msg saved";
    } catch (e) { if (e.message !== "auth") { msg.textContent = e.message; msg.className = "err"; } }
  });
  cell.append(form);
  input.focus();
}

function pct(x) { return (100 * x).toFixed(1) + "%"; }

async function load() {
  const days = $("#days").value;
  const a = await api("/admin/analytics" + (days ? "?days=" + days : ""));
  $("#login").classList.add("hidden");
  $("#board").classList.remove("hidden");
  $("#n-searches").textContent = a.searches;
  $("#n-zero").textContent = a.zero_result_queries.length;
  $("#p50").textContent = a.latency_ms.p50 ?? "–";
  $("#p95").textContent = a.latency_ms.p95 ?? "–";
  $("#modalities").textContent = Object.entries(a.modalities).map(([k, v]) => k + " " + v).join(" · ") || "–";
  chart("#top-chart", "bar", a.top_queries.map((q) => q.query), a.top_queries.map((q) => q.count), "searches");
  chart("#pos-chart", "bar", Object.keys(a.click_positions), Object.values(a.click_positions), "clicks");

  const zero = $("#zero tbody");
  zero.replaceChildren();
  for (const q of a.zero_result_queries) {
    const tr = row(zero, [q.query, q.count, ""]);
    tr.dataset.query = q.query;
    tr.lastChild.append(
      el("button", { class: "add-synonym", onclick: () => fixForm(tr, q.query, "synonym") }, "Add a synonym"), " ",
      el("button", { class: "add-rule", onclick: () => fixForm(tr, q.query, "rule") }, "Add a rule"));
  }
  if (!a.zero_result_queries.length) row(zero, ["none in this period", "", ""]);

  const low = $("#lowctr tbody");
  low.replaceChildren();
  for (const q of a.low_ctr_queries) row(low, [q.query, q.searches, q.clicks, pct(q.ctr)]);
  const conv = $("#conversions tbody");
  conv.replaceChildren();
  for (const q of a.conversions_per_query) row(conv, [q.query, q.searches, q.add_to_cart, q.purchase, pct(q.rate)]);
  await loadExperiments();
}

async function loadExperiments() {
  const body = $("#experiments tbody");
  body.replaceChildren();
  const exps = await api("/admin/experiments");
  for (const e of exps) {
    const r = await api("/admin/experiments/" + encodeURIComponent(e.name));
    r.arms.forEach((arm, i) => {
      const tr = row(body, [i ? "" : e.name, i ? "" : e.status + (e.winner ? " · winner " + e.winner : "") +
        (e.promoted ? " · promoted" : ""), arm.arm, arm.searches,
        pct(arm.ctr.rate) + " (" + pct(arm.ctr.low) + "–" + pct(arm.ctr.high) + ")",
        pct(arm.conversion.rate) + " (" + pct(arm.conversion.low) + "–" + pct(arm.conversion.high) + ")",
        i ? "" : r.ctr_p_value.toFixed(4), ""]);
      if (!e.promoted) {
        tr.lastChild.append(el("button", { class: "promote", onclick: async () => {
          if (!confirm("Stop " + e.name + " and make " + arm.arm + " the default ranking?")) return;
          await api("/admin/experiments/" + encodeURIComponent(e.name) + "/promote", { method: "POST", body: { arm: arm.arm } });
          loadExperiments();
        } }, "Promote"));
      }
    });
    if (e.status === "running") {
      const tr = row(body, ["", "", "", "", "", "", "", ""]);
      tr.lastChild.append(el("button", { class: "stop", onclick: async () => {
        await api("/admin/experiments/" + encodeURIComponent(e.name) + "/stop", { method: "POST" });
        loadExperiments();
      } }, "Stop"));
    }
  }
  if (!exps.length) row(body, ["no A/B tests yet (POST /admin/experiments)", "", "", "", "", "", "", ""]);
}

$("#login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $("#token").value.trim());
  load().catch((e) => { if (e.message !== "auth") $("#login-error").textContent = e.message; });
});
$("#logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); showLogin(""); });
$("#refresh").addEventListener("click", () => load().catch(() => {}));
$("#days").addEventListener("change", () => load().catch(() => {}));

if (token()) load().catch(() => {}); else showLogin("");
