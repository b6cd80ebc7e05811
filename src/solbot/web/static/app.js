// solbot's dashboard: a page per view, drawn from the REST API (/api/v1). No build step: plain
// JavaScript, plotly for the charts. Text from the API is only ever set as text, never as HTML.
"use strict";

const state = { me: null, status: null };
const $ = (selector) => document.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function csrf() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("solbot_csrf="));
  return found ? decodeURIComponent(found.split("=")[1]) : "";
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch("/api/v1" + path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = answer.headers.get("content-type")?.includes("json") ? await answer.json() : null;
  if (!answer.ok) {
    const error = new Error(data?.error?.message || answer.statusText);
    error.status = answer.status;
    throw error;
  }
  return data;
}

function notice(text, isError = false) {
  const box = $("#notice");
  box.textContent = text;
  box.className = isError ? "error" : "";
  box.hidden = !text;
  if (text && !isError) setTimeout(() => { if (box.textContent === text) box.hidden = true; }, 4000);
}

const money = (value, digits = 2) =>
  value === null || value === undefined ? "–" :
  Number(value).toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
const signed = (value) => (Number(value) > 0 ? "+" : "") + money(value);
const when = (iso) => iso.replace("T", " ").slice(0, 16);
const tone = (value) => (Number(value) > 0 ? "up" : Number(value) < 0 ? "down" : "");

// ------------------------------------------------------------------ sign-in
async function signIn(secret) {
  if (!window.isSecureContext) {
    // The session cookie is Secure: over plain http (beyond this machine) the browser would
    // drop it, and the one-time link would be spent for nothing. Keep it unused.
    return showSignIn("This address is not https: ask the operator for the dashboard's https address.");
  }
  try {
    state.me = await api("POST", "/session", { secret });
    history.replaceState(null, "", "/#/overview"); // the link's secret leaves the address bar
    await route();
  } catch (error) {
    if (error.status !== 429) history.replaceState(null, "", "/"); // a link still unused stays
    showSignIn(error.message);
  }
}

function showSignIn(message) {
  $("#nav").hidden = true;
  $("#sign-out").hidden = true;
  $("#main").replaceChildren($("#t-signin").content.cloneNode(true));
  if (message) notice(message, true);
  $("#signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("#signin-secret").value.trim());
  });
  api("GET", "/sign-in").then((ways) => {
    const widget = $("#signin-telegram");
    if (widget) widget.hidden = !ways.telegram_login;
  }).catch(() => null);
}

// ------------------------------------------------------------------ views
async function overview() {
  const status = await api("GET", "/status");
  state.status = status;
  const main = $("#main");
  main.replaceChildren(el("h1", {}, "Overview"));
  const loop = status.loop
    ? `loop: ${status.loop.ticks.toLocaleString()} ticks, ${status.loop.entries} entries, ` +
      `${status.loop.exits} exits` + (status.loop.warming_up ? ` · ${status.loop.warming_up}` : "")
    : "no trading loop runs on this database now (solbot run): what it left is shown";
  main.append(el("p", { class: "muted", id: "loop-line" }, loop));
  if (status.entries_stopped) {
    main.append(el("p", { class: "warn" }, "The operator has stopped new entries for everyone."));
  }
  const chosen = new URLSearchParams(location.hash.split("?")[1] || "").get("user");
  if (state.me.role === "operator" && !chosen) {
    main.append(groupTable(status)); // one request for any number of users
  } else {
    for (const user of status.users.filter((u) => !chosen || u.username === chosen)) {
      main.append(await userCard(user, status));
    }
  }
  if (!status.users.length) main.append(el("p", { class: "muted" }, "No users yet."));
  if (status.loop && !live) refreshLater(overview); // without live updates: every 15 s
}

// While a loop runs the overview follows it: drawn again when the loop beats (live updates,
// /api/v1/events: after every tick, at most every 5 s), or every 15 s where a browser has no
// EventSource; only while it is the page shown and the tab is visible.
let live = null;
function followLoop() {
  if (live || !window.EventSource) return;
  live = new EventSource("/api/v1/events");
  let drawn = Date.now(); // the first beat comes at once: the page was just drawn
  live.addEventListener("beat", () => {
    const shown = VIEWS[location.hash.split("?")[0]] || overview;
    if (shown === overview && !document.hidden && Date.now() - drawn > 5000) {
      drawn = Date.now();
      route();
    }
  });
}

function stopFollowing() {
  if (live) live.close();
  live = null;
}

let refreshTimer = null;
function refreshLater(view) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    if ((VIEWS[location.hash.split("?")[0]] || overview) === view && !document.hidden) route();
  }, 15000);
}

async function userCard(listed, status) {
  const name = listed.username;
  const { user, balances, positions, equity } = await api("GET", `/users/${name}/overview?days=30`);
  const todayPnl = user.today_pnl;
  const card = el("section", { class: "card", "data-user": name });
  const state = user.active ? "trading" : `paused (${user.paused_reason || "by you"})`;
  card.append(
    el("h2", {}, name, " ", el("span", { class: "badge", "data-state": user.active ? "active" : "paused" }, state)),
    el("div", { class: "grid" },
      stat("Value", `${money(user.portfolio_value)} ${status.quote}`),
      stat("Cash", balances.cash ? `${money(balances.cash.units)} ${balances.quote}` : "not marked yet"),
      stat("Today's PnL", `${signed(todayPnl)} ${status.quote}`, tone(todayPnl)),
      stat("Open positions", String(user.open_positions)),
      stat("Breaker", user.breaker ? user.breaker.text : "none holding", user.breaker ? "warn" : "")),
  );
  const chart = el("div", { class: "chart", id: `equity-${name}` });
  card.append(el("h2", {}, "Equity, last 30 days"), chart);
  const controls = el("div", { class: "filters" });
  const toggle = user.active
    ? el("button", { class: "danger", id: `pause-${name}`, onclick: () => act("POST", `/users/${name}/pause`) }, "Pause trading")
    : el("button", { class: "primary", id: `resume-${name}`, onclick: () => act("POST", `/users/${name}/resume`) }, "Resume trading");
  const tier = el("select", { id: `tier-${name}`, onchange: (e) => act("PUT", `/users/${name}/risk`, { tier: e.target.value }) },
    ...["conservative", "moderate", "aggressive"].map((t) => el("option", { value: t, selected: t === user.risk_tier }, t)));
  controls.append(toggle, " Risk: ", tier);
  card.append(controls, positionsTable(name, positions));
  requestAnimationFrame(() => drawEquity(chart, equity));
  return card;
}

function groupTable(status) {
  const rows = status.users.map((u) => el("tr", { "data-user": u.username },
    el("td", {}, el("a", { href: `#/overview?user=${encodeURIComponent(u.username)}` }, u.username)),
    el("td", {}, u.active ? "trading" : "paused"), el("td", {}, u.risk_tier),
    el("td", { class: "num" }, money(u.portfolio_value)), el("td", { class: "num" }, String(u.open_positions)),
    el("td", { class: u.breaker ? "warn" : "" }, u.breaker ? u.breaker.text : "")));
  return el("section", { class: "card" }, el("h2", {}, "Everyone"), el("div", { class: "table-wrap" },
    el("table", { id: "group-table" }, el("thead", {}, el("tr", {},
      ...["User", "State", "Risk", `Value (${status.quote})`, "Open", "Breaker"].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows))));
}

function stat(label, value, cls = "") {
  return el("div", { class: "stat" }, el("div", { class: "muted" }, label), el("div", { class: `value ${cls}` }, value));
}

function drawEquity(node, equity) {
  if (!window.Plotly) return;
  const x = equity.points.map((p) => p.at), y = equity.points.map((p) => Number(p.value));
  const layout = {
    margin: { l: 50, r: 10, t: 10, b: 40 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: "#e6edf3" }, xaxis: { gridcolor: "#2a3542" }, yaxis: { gridcolor: "#2a3542", title: equity.quote },
  };
  window.Plotly.newPlot(node, [{ x, y, type: "scatter", mode: "lines", line: { color: "#4493f8" } }], layout,
    { displayModeBar: false, responsive: true });
  node.dataset.points = String(x.length);
}

function positionsTable(name, positions) {
  if (!positions.length) return el("p", { class: "muted" }, "No open positions.");
  const rows = positions.map((p) => el("tr", {},
    el("td", {}, el("a", { href: `#/chart?token=${encodeURIComponent(p.token)}` }, p.token)),
    el("td", { class: "num" }, Number(p.quantity).toLocaleString()),
    el("td", { class: "num" }, p.entry_price), el("td", { class: "num" }, p.price_now ?? "–"),
    el("td", { class: "num" }, p.stop_loss ?? "–"), el("td", { class: "num" }, p.take_profit ?? "–"),
    el("td", {}, el("button", { onclick: () => act("POST", `/users/${name}/positions/${p.token}/close`) }, "Close"))));
  return el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, ...["Token", "Quantity", "Entry", "Now", "Stop", "Target", ""].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows)));
}

async function act(method, path, body) {
  try {
    const done = await api(method, path, body);
    notice(done.message);
  } catch (error) {
    notice(error.message, true);
  }
  await route();
}

// A token's candles with the user's entries (▲) and exits (▼).
const charts = { token: null, days: 7 };

async function chartView() {
  const status = state.status ?? (await api("GET", "/status"));
  state.status = status;
  const who = state.me.username ?? status.users[0]?.username;
  const main = $("#main");
  main.replaceChildren(el("h1", {}, "Charts"));
  if (!who || !status.tokens.length) { main.append(el("p", { class: "muted" }, "Nothing to chart yet.")); return; }
  const wanted = new URLSearchParams(location.hash.split("?")[1] || "").get("token");
  charts.token = wanted || charts.token || status.tokens[0];
  const pick = el("select", { id: "chart-token", onchange: (e) => { location.hash = `#/chart?token=${e.target.value}`; } },
    ...status.tokens.map((t) => el("option", { value: t, selected: t === charts.token }, t)));
  const span = el("select", { id: "chart-days", onchange: (e) => { charts.days = Number(e.target.value); chartView(); } },
    ...[1, 7, 30, 90].map((d) => el("option", { value: d, selected: d === charts.days }, `${d} day${d > 1 ? "s" : ""}`)));
  const data = await api("GET", `/users/${who}/chart/${charts.token}?days=${charts.days}`);
  const node = el("div", { class: "chart tall", id: "candles" });
  main.append(el("div", { class: "filters" }, pick, span,
    el("span", { class: "muted" }, `${who}'s fills · ${data.timeframe} candles in USD`)), node);
  if (!data.candles.length) {
    node.replaceWith(el("p", { class: "muted", id: "candles" }, "No candles yet: the bot builds them as it runs."));
    return;
  }
  const bars = {
    type: "candlestick", name: data.token, x: data.candles.map((b) => b.t),
    open: data.candles.map((b) => b.o), high: data.candles.map((b) => b.h),
    low: data.candles.map((b) => b.l), close: data.candles.map((b) => b.c),
    increasing: { line: { color: "#2ea043" } }, decreasing: { line: { color: "#f85149" } },
  };
  const marks = (side, symbol, color) => {
    const fills = data.fills.filter((f) => f.side === side);
    return {
      type: "scatter", mode: "markers", name: side === "buy" ? "entries" : "exits",
      x: fills.map((f) => f.at), y: fills.map((f) => f.y),
      text: fills.map((f) => `${side} at ${f.price} ${data.quote}` + (f.pnl === null ? "" : `, PnL ${signed(f.pnl)}`)),
      hoverinfo: "text+x", marker: { symbol, size: 12, color, line: { color: "#0f1419", width: 1 } },
    };
  };
  window.Plotly?.newPlot(node, [bars, marks("buy", "triangle-up", "#2ea043"), marks("sell", "triangle-down", "#f85149")], {
    margin: { l: 50, r: 10, t: 10, b: 40 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: "#e6edf3" }, xaxis: { gridcolor: "#2a3542", rangeslider: { visible: false } },
    yaxis: { gridcolor: "#2a3542" }, legend: { orientation: "h" },
  }, { displayModeBar: false, responsive: true });
  node.dataset.candles = String(data.candles.length);
  node.dataset.fills = String(data.fills.length);
}

// Trades: filters, sorting by a column, pages, CSV of the same filter.
const trades = { offset: 0, limit: 50, sort: "timestamp", order: "desc" };

async function tradesView() {
  const users = state.me.role === "operator" ? state.status?.users ?? (await api("GET", "/status")).users : [{ username: state.me.username }];
  const main = $("#main");
  const who = trades.user && users.some((u) => u.username === trades.user) ? trades.user : users[0]?.username;
  main.replaceChildren(el("h1", {}, "Trades"));
  if (!who) { main.append(el("p", { class: "muted" }, "No users yet.")); return; }
  trades.user = who;
  const form = el("form", { class: "filters", id: "trade-filters" },
    state.me.role === "operator"
      ? el("select", { name: "user" }, ...users.map((u) => el("option", { value: u.username, selected: u.username === who }, u.username)))
      : null,
    el("input", { name: "token", placeholder: "token", size: 8, value: trades.token || "" }),
    el("select", { name: "side" }, el("option", { value: "" }, "buys and sells"),
      ...["buy", "sell"].map((s) => el("option", { value: s, selected: trades.side === s }, s))),
    el("select", { name: "result" }, el("option", { value: "" }, "all results"),
      ...["win", "loss"].map((s) => el("option", { value: s, selected: trades.result === s }, s === "win" ? "wins" : "losses"))),
    el("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    for (const key of ["user", "token", "side", "result"]) trades[key] = data.get(key) || (key === "user" ? who : "");
    trades.offset = 0;
    tradesView();
  });
  const query = new URLSearchParams({ sort: trades.sort, order: trades.order });
  for (const key of ["token", "side", "result"]) if (trades[key]) query.set(key, trades[key]);
  const page = await api("GET", `/users/${who}/trades?${query}&offset=${trades.offset}&limit=${trades.limit}`);
  const columns = [["timestamp", "Time"], ["token", "Token"], ["side", "Side"], ["price", "Price"],
    [null, "Quantity"], ["quote", "Quote"], ["pnl", "PnL"]];
  const head = el("tr", {}, ...columns.map(([key, label]) => el("th", {
    "data-sort": key, class: key && key !== "token" && key !== "side" && key !== "timestamp" ? "num" : null,
    onclick: key ? () => { trades.order = trades.sort === key && trades.order === "desc" ? "asc" : "desc"; trades.sort = key; tradesView(); } : null,
  }, label + (trades.sort === key ? (trades.order === "desc" ? " ▼" : " ▲") : ""))));
  const body = page.trades.map((t) => el("tr", { "data-trade": t.id },
    el("td", {}, when(t.timestamp)), el("td", {}, t.token), el("td", {}, t.side),
    el("td", { class: "num" }, t.price), el("td", { class: "num" }, Number(t.quantity).toLocaleString()),
    el("td", { class: "num" }, money(t.quote_amount)),
    el("td", { class: `num ${tone(t.pnl)}` }, t.pnl === null ? "" : signed(t.pnl))));
  const csv = `/api/v1/users/${who}/trades.csv?${query}`;
  const last = Math.min(page.offset + page.limit, page.total);
  main.append(form,
    el("div", { class: "table-wrap" }, el("table", { id: "trades-table" }, el("thead", {}, head), el("tbody", {}, body))),
    el("div", { class: "pager" },
      el("button", { disabled: page.offset === 0, onclick: () => { trades.offset = Math.max(0, trades.offset - trades.limit); tradesView(); } }, "‹ Newer"),
      el("span", { id: "trades-count", class: "muted" }, page.total ? `${page.offset + 1}–${last} of ${page.total}` : "no trades match"),
      el("button", { disabled: last >= page.total, onclick: () => { trades.offset += trades.limit; tradesView(); } }, "Older ›"),
      el("a", { href: csv, download: "" }, "Download CSV")));
}

async function usersView() {
  const [users, status] = await Promise.all([api("GET", "/users"), api("GET", "/status")]);
  const main = $("#main");
  main.replaceChildren(el("h1", {}, "Users"),
    el("div", { class: "filters" },
      el("button", { class: "danger", id: "pause-all", onclick: () => act("POST", "/group/pause") }, "Pause everyone"),
      el("button", { id: "resume-all", onclick: () => act("POST", "/group/resume") }, "Resume those I paused"),
      el("button", { id: "entries", onclick: () => act("PUT", "/group/entries", { stopped: !status.entries_stopped }) },
        status.entries_stopped ? "Allow new entries" : "Stop new entries")));
  const rows = users.map((u) => el("tr", { "data-user": u.username },
    el("td", {}, u.username), el("td", {}, u.active ? "trading" : "paused"), el("td", {}, u.risk_tier),
    el("td", { class: "num" }, money(u.portfolio_value)), el("td", { class: "num" }, String(u.open_positions)),
    el("td", {}, u.breaker ? u.breaker.text : ""), el("td", { class: "muted" }, u.wallet)));
  main.append(el("div", { class: "table-wrap" }, el("table", { id: "users-table" },
    el("thead", {}, el("tr", {}, ...["User", "State", "Risk", `Value (${status.quote})`, "Open", "Breaker", "Wallet"].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows))));
}

// The operator's backtest and optimize reports, each opened as written (sandboxed) in a tab.
async function reportsView() {
  const reports = await api("GET", "/reports");
  const main = $("#main");
  main.replaceChildren(el("h1", {}, "Reports"));
  if (!reports.length) {
    main.append(el("p", { class: "muted" }, "No reports yet: solbot backtest --report and solbot optimize write them."));
    return;
  }
  const link = (name, text) => el("a", { href: `/reports/${encodeURIComponent(name)}`, target: "_blank", rel: "noopener" }, text);
  const rows = reports.map((r) => el("tr", { "data-report": r.name },
    el("td", {}, link(r.name, r.name)), el("td", {}, r.kind),
    el("td", {}, r.written_at.slice(0, 16).replace("T", " ")),
    el("td", { class: "num" }, `${(r.size_bytes / 1024).toFixed(0)} KB`),
    el("td", {}, r.image ? link(r.image, "chart") : "")));
  main.append(el("div", { class: "table-wrap" }, el("table", { id: "reports-table" },
    el("thead", {}, el("tr", {}, ...["Report", "Kind", "Written (UTC)", "Size", ""].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows))));
}

// A friend's own webhooks: their events to Discord, Slack or a JSON endpoint. The address is
// a secret (it carries the endpoint's token): typed once, sent once, shown back as a hint only.
async function webhooksView() {
  const main = $("#main");
  const name = state.me.username;
  if (!name) {
    main.replaceChildren(el("h1", {}, "Webhooks"),
      el("p", { class: "muted" }, "The operator's webhooks are added with solbot webhook add."));
    return;
  }
  const hooks = await api("GET", `/users/${name}/webhooks`);
  const base = `/users/${name}/webhooks`;
  const rows = hooks.map((h) => el("tr", { "data-hook": h.name },
    el("td", {}, h.name), el("td", {}, h.kind), el("td", { class: "muted" }, h.address),
    el("td", {}, h.events.join(", ")), el("td", { class: "num" }, String(h.pending)),
    el("td", { class: "num" }, String(h.failed)),
    el("td", {},
      el("button", { onclick: () => act("POST", `${base}/${encodeURIComponent(h.name)}/test`) }, "Test"), " ",
      el("button", { class: "danger", onclick: () => act("DELETE", `${base}/${encodeURIComponent(h.name)}`) }, "Remove"))));
  const groups = ["entry", "exit", "breaker", "summary"];
  const form = el("form", { class: "filters", id: "webhook-form" },
    el("input", { id: "hook-name", required: true, pattern: "[a-z0-9][a-z0-9_-]{0,31}", placeholder: `${name}-discord`, "aria-label": "name" }),
    el("input", { id: "hook-url", type: "password", autocomplete: "off", required: true, placeholder: "https://discord.com/api/webhooks/…", "aria-label": "address" }),
    ...groups.map((g) => el("label", {}, el("input", { type: "checkbox", value: g, checked: true, class: "hook-group" }), ` ${g}`)),
    el("button", { type: "submit", class: "primary" }, "Add"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const events = [...document.querySelectorAll(".hook-group:checked")].map((box) => box.value);
    const url = $("#hook-url");
    const body = { name: $("#hook-name").value, url: url.value, events };
    url.value = "";  // not left in the page
    await act("POST", base, body);
  });
  main.replaceChildren(el("h1", {}, "Webhooks"),
    el("p", { class: "muted" }, "Your entries, exits, breakers and daily summary, posted to Discord, Slack or your own endpoint (https on the public internet)."),
    form,
    hooks.length ? el("div", { class: "table-wrap" }, el("table", { id: "webhooks-table" },
      el("thead", {}, el("tr", {}, ...["Name", "Kind", "Address", "Events", "Pending", "Failed", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows))) : el("p", { class: "muted" }, "None yet."));
}

// ------------------------------------------------------------------ routing
const VIEWS = { "#/overview": overview, "#/chart": chartView, "#/trades": tradesView, "#/webhooks": webhooksView, "#/users": usersView, "#/reports": reportsView };

async function route() {
  if (location.pathname === "/signin" && location.hash.length > 1) {
    return signIn(decodeURIComponent(location.hash.slice(1)));
  }
  try {
    state.me = await api("GET", "/me");
  } catch (error) {
    if (error.status === 401) return showSignIn();
    return notice(error.message, true);
  }
  $("#nav").hidden = false;
  $("#sign-out").hidden = false;
  followLoop();
  $("#nav-users").hidden = state.me.role !== "operator";
  $("#nav-reports").hidden = state.me.role !== "operator";
  $("#nav-webhooks").hidden = state.me.role === "operator";
  const page = location.hash.split("?")[0];
  const view = VIEWS[page] || overview;
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.getAttribute("href") === page);
  try {
    await view();
    const world = state.status ? `${state.status.world} · ${state.status.mode}` : "";
    $("#world").textContent = world + (state.me.username ? ` · ${state.me.username}` : " · operator");
  } catch (error) {
    if (error.status === 401) return showSignIn(error.message);
    notice(error.message, true);
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  $("#sign-out").addEventListener("click", async () => {
    await api("DELETE", "/session").catch(() => null);
    stopFollowing();
    state.me = null;
    history.replaceState(null, "", "/");
    showSignIn();
  });
  route();
});
