// The fedctl dashboard: three pages over the JSON API, refreshed every second.
// Every value is put into the DOM as text (textContent, attributes), never parsed as markup.
"use strict";
(function () {
  const REFRESH_MS = 1000;
  const SVGNS = "http://www.w3.org/2000/svg";

  function add(el, kids) {
    for (const k of kids) {
      if (k === null || k === undefined || k === false) continue;
      if (Array.isArray(k)) add(el, k);
      else if (k instanceof Node) el.appendChild(k);
      else el.appendChild(document.createTextNode(String(k)));
    }
    return el;
  }

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, String(v));
    }
    return add(el, kids);
  }

  function s(tag, attrs, ...kids) {
    const el = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    return add(el, kids);
  }

  function replace(el, ...kids) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return add(el, kids);
  }

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (r.status === 401) {
      window.location.assign("/login");
      throw new Error("sign-in required");
    }
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || "HTTP " + r.status);
    return body;
  }

  function q(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") u.set(k, v);
    const t = u.toString();
    return t ? "?" + t : "";
  }

  function when(iso) {
    if (!iso) return "-";
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function yesno(v) {
    return v === null || v === undefined ? "-" : v ? "yes" : "no";
  }

  function badge(text, kind) {
    return h("span", { class: "badge " + (kind || String(text).toLowerCase()) }, text);
  }

  function healthBadge(health) {
    const v = String(health || "Unknown");
    const kind = /^healthy$/i.test(v) ? "ok" : /unhealthy|unavailable|unreachable/i.test(v) ? "bad" : "unknown";
    return badge(v, kind);
  }

  function condBadge(c) {
    if (!c) return badge("-", "unknown");
    return badge(c.status === "True" ? c.reason || "True" : c.reason || c.status, c.status === "True" ? "ok" : "bad");
  }

  function kv(obj) {
    const keys = Object.keys(obj || {});
    if (!keys.length) return h("span", { class: "muted" }, "none");
    return h("span", { class: "chips" }, keys.sort().map((k) => h("code", { class: "chip" }, k + "=" + obj[k])));
  }

  // --- the live loop -------------------------------------------------------------------------------

  const sections = [];
  function section(load, render) {
    const sec = { load, render, last: null };
    sections.push(sec);
    return sec;
  }

  async function refresh() {
    let ok = true;
    let problem = "";
    await Promise.all(
      sections.map(async (sec) => {
        try {
          const data = await sec.load();
          const text = JSON.stringify(data);
          if (text !== sec.last) {
            sec.last = text;
            sec.render(data);
          }
        } catch (e) {
          ok = false;
          problem = e.message;
        }
      })
    );
    const live = document.getElementById("live");
    if (live) {
      replace(live, ok ? "live · " + new Date().toLocaleTimeString() : "update failed: " + problem);
      live.className = ok ? "live" : "live stale";
    }
  }

  function leaderText(l) {
    if (!l) return "";
    const holder = l.holder ? "leader: " + l.holder : "no leader holds the Lease";
    if (l.role === "dashboard") return holder + " · this process: dashboard";
    return holder + " · this replica (" + l.self + "): " + l.role;
  }

  function renderLeader(l) {
    const el = document.getElementById("leader");
    if (el) replace(el, leaderText(l));
  }

  // --- Overview ------------------------------------------------------------------------------------

  function backends(bh) {
    if (!bh) return null;
    const total = (bh.normal || 0) + (bh.abnormal || 0) + (bh.unavailable || 0);
    const text = "backends " + (bh.normal || 0) + "/" + total + " normal" + (bh.abnormal ? ", " + bh.abnormal + " abnormal" : "") + (bh.unavailable ? ", " + bh.unavailable + " unavailable" : "");
    return h("div", { class: "why" }, bh.abnormal || bh.unavailable ? badge(text, "bad") : text);
  }

  function regionRow(app, r) {
    const dns =
      r.servingDNS === null || r.servingDNS === undefined
        ? "-"
        : r.servingDNS
          ? badge("serving", "ok")
          : [badge("not serving", "bad"), r.dnsReason ? h("div", { class: "why" }, r.dnsReason) : null];
    return h(
      "tr",
      { "data-app": app.key, "data-region": r.region, class: "region-row" },
      h("td", {}, r.region),
      h("td", {}, r.cluster || "-"),
      h("td", { class: "num" }, r.desiredReplicas === null || r.desiredReplicas === undefined ? "-" : r.desiredReplicas),
      h("td", { class: "num" }, r.readyReplicas === null || r.readyReplicas === undefined ? "-" : r.readyReplicas),
      h("td", { class: "health" }, healthBadge(r.health), r.healthReason ? h("div", { class: "why" }, r.healthReason) : null),
      h("td", {}, r.loadBalancerId || "-", backends(r.backendHealth)),
      h("td", {}, r.address || "-"),
      h("td", { class: "dns" }, dns)
    );
  }

  function regionsTable(app) {
    return h(
      "table",
      { class: "regions" },
      h(
        "thead",
        {},
        h("tr", {}, ["Region", "Cluster", "Desired", "Ready", "Health", "SLB", "Address", "DNS"].map((t) => h("th", {}, t)))
      ),
      h("tbody", {}, app.regions.map((r) => regionRow(app, r)))
    );
  }

  function appCard(app) {
    const href = "/apps/" + encodeURIComponent(app.namespace) + "/" + encodeURIComponent(app.name);
    return h(
      "section",
      { class: "card app", "data-app": app.key },
      h(
        "h3",
        {},
        h("a", { href }, app.key),
        " ",
        condBadge(app.conditions.Ready),
        app.failOpen ? badge("DNS fail-open", "bad") : null
      ),
      h(
        "p",
        { class: "meta" },
        (app.hostname || "no hostname") + " · " + (app.policy || "-") + " · " + (app.strategy || "-") + " · ",
        (app.readyReplicas ?? 0) + "/" + (app.replicas ?? "?") + " replicas ready · regions " + (app.regionsReady || "-")
      ),
      h("p", { class: "meta" }, "labels ", kv(app.labels)),
      regionsTable(app)
    );
  }

  function membersTable(members) {
    if (!members.length) return h("p", { class: "muted" }, "No MemberClusters.");
    return h(
      "table",
      { class: "members" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Member", "Region", "Version", "Nodes", "API latency", "Reachable", "Ready", "Network", "Override"].map((t) =>
            h("th", {}, t)
          )
        )
      ),
      h(
        "tbody",
        {},
        members.map((m) =>
          h(
            "tr",
            { "data-member": m.name },
            h("td", {}, m.name),
            h("td", {}, m.region || "-"),
            h("td", {}, m.kubernetesVersion || "-"),
            h("td", { class: "num" }, m.nodeCount ?? "-"),
            h("td", { class: "num" }, m.apiLatencyMs === null || m.apiLatencyMs === undefined ? "-" : m.apiLatencyMs.toFixed(1) + " ms"),
            h("td", {}, condBadge(m.reachable)),
            h("td", {}, condBadge(m.ready)),
            h("td", {}, m.networkState),
            h("td", {}, m.healthOverride ? badge("drained: " + m.healthOverride, "bad") : "-")
          )
        )
      )
    );
  }

  function overviewPage(main) {
    const apps = h("div", { id: "apps" });
    const members = h("div", { id: "members" });
    replace(main, h("h2", {}, "Apps × regions"), apps, h("h2", {}, "Member clusters"), members);
    section(
      () => getJSON("/api/v1/overview"),
      (d) => {
        renderLeader(d.leader);
        replace(apps, d.apps.length ? d.apps.map(appCard) : h("p", { class: "muted" }, "No FederatedApps."));
        replace(members, membersTable(d.members));
      }
    );
  }

  // --- DNS -----------------------------------------------------------------------------------------

  function lineRows(lines, all) {
    return lines
      .filter((l) => all || l.depth <= 1 || l.published)
      .map((l) =>
        h(
          "tr",
          { "data-line": l.line, class: l.published ? "published" : "fallback" },
          h("td", { class: "line depth-" + Math.min(l.depth, 4) }, l.line),
          h(
            "td",
            {},
            l.published ? badge("published", "ok") : l.from_line ? "falls back to " + l.from_line : badge("no answer", "bad")
          ),
          h("td", { class: "answer" }, l.values.length ? l.values.join(", ") : "-")
        )
      );
  }

  function heatColor(ms) {
    if (ms === null || ms === undefined) return "#eee";
    const t = Math.max(0, Math.min(1, Math.log(1 + ms) / Math.log(400)));
    const hue = Math.round(120 * (1 - t));
    return "hsl(" + hue + ", 70%, 80%)";
  }

  function heatmap(d, all) {
    const rows = d.lines.filter((l) => all || l.line === "default" || l.parent === "default" || l.parent === "oversea" || l.parent === "internal");
    return h(
      "table",
      { class: "heatmap" },
      h("thead", {}, h("tr", {}, h("th", {}, "Line"), d.regions.map((r) => h("th", {}, r)))),
      h(
        "tbody",
        {},
        rows.map((l) =>
          h(
            "tr",
            { "data-latency-line": l.line },
            h("td", { class: "line" }, l.line),
            l.cells.map((c) => {
              const td = h(
                "td",
                { class: "cell src-" + c.source, title: l.line + " → " + c.region + ": " + c.source },
                c.rtt_ms === null ? "?" : c.rtt_ms.toFixed(0),
                h("sub", {}, c.source)
              );
              td.style.backgroundColor = heatColor(c.rtt_ms);
              return td;
            })
          )
        )
      )
    );
  }

  function changesTable(d) {
    if (!d.items.length) return h("p", { class: "muted" }, "No DNS changes in this window.");
    return h(
      "table",
      { class: "changes" },
      h("thead", {}, h("tr", {}, ["When", "Action", "Name", "Type", "Line", "Value", "Reason"].map((t) => h("th", {}, t)))),
      h(
        "tbody",
        {},
        d.items.map((c) =>
          h(
            "tr",
            { "data-change-reason": c.reason },
            h("td", {}, when(c.at)),
            h("td", {}, c.action),
            h("td", {}, c.name),
            h("td", {}, c.type),
            h("td", {}, c.line),
            h("td", {}, c.action === "delete" ? c.old || "-" : c.new || "-"),
            h("td", {}, badge(c.reason, c.reason === "region-unhealthy" || c.reason === "fail-open" ? "bad" : "info"))
          )
        )
      )
    );
  }

  function dnsPage(main) {
    const state = { name: "", client: "", allLines: false, allLatency: false, logName: "", since: "24h", offset: 0 };
    const hostSelect = h("select", { id: "hostname" });
    const allLines = h("input", { type: "checkbox", id: "all-lines" });
    const tree = h("div", { id: "line-tree" });
    const clientInput = h("input", { id: "client-ip", type: "text", placeholder: "e.g. 36.21.0.0/24 or 8.8.8.8", size: 28 });
    const clientOut = h("div", { id: "client-answer", class: "answer-box" });
    const allLatency = h("input", { type: "checkbox", id: "all-latency" });
    const heat = h("div", { id: "latency" });
    const logName = h("input", { id: "log-name", type: "text", placeholder: "hostname (all)", size: 24 });
    const since = h(
      "select",
      { id: "log-since" },
      [["15m", "last 15 minutes"], ["1h", "last hour"], ["24h", "last 24 hours"], ["7d", "last 7 days"], ["", "all"]].map(
        ([v, t]) => h("option", { value: v, selected: v === state.since ? "selected" : null }, t)
      )
    );
    const log = h("div", { id: "changes" });
    const pager = h("div", { class: "pager" });

    const clientForm = h(
      "form",
      {
        id: "client-form",
        onsubmit: (e) => {
          e.preventDefault();
          state.client = clientInput.value.trim();
          clientSec.last = null;
          refresh();
        },
      },
      h("label", {}, "Answer for client IP or subnet ", clientInput),
      " ",
      h("button", { type: "submit", id: "client-go" }, "Resolve")
    );
    replace(
      main,
      h("h2", {}, "Records per line"),
      h("p", {}, h("label", {}, "Hostname ", hostSelect), " ", h("label", {}, allLines, " all lines")),
      tree,
      h("h2", {}, "A client's answer"),
      clientForm,
      clientOut,
      h("h2", {}, "Latency: line × region"),
      h(
        "p",
        { class: "muted" },
        "Each cell: RTT in ms and where the number came from (sample: live probes; config: dns_latency; published: a published measurement; model: the great-circle model). ",
        h("label", {}, allLatency, " all lines")
      ),
      heat,
      h("h2", {}, "Change log"),
      h("p", {}, h("label", {}, "Hostname ", logName), " ", h("label", {}, "Since ", since)),
      log,
      pager
    );
    hostSelect.addEventListener("change", () => {
      state.name = hostSelect.value;
      treeSec.last = null;
      refresh();
    });
    allLines.addEventListener("change", () => {
      state.allLines = allLines.checked;
      treeSec.last = null;
      refresh();
    });
    allLatency.addEventListener("change", () => {
      state.allLatency = allLatency.checked;
      heatSec.last = null;
      refresh();
    });
    logName.addEventListener("change", () => {
      state.logName = logName.value.trim();
      state.offset = 0;
      refresh();
    });
    since.addEventListener("change", () => {
      state.since = since.value;
      state.offset = 0;
      refresh();
    });

    const treeSec = section(
      async () => ({ d: await getJSON("/api/v1/dns/lines" + q({ name: state.name })), all: state.allLines }),
      ({ d, all }) => {
        const chosen = d.name || "";
        replace(hostSelect, d.hostnames.map((n) => h("option", { value: n, selected: n === chosen ? "selected" : null }, n)));
        if (!d.name) {
          replace(tree, h("p", { class: "muted" }, "No app has a DNS hostname."));
          return;
        }
        if (!d.store) {
          replace(tree, h("p", { class: "muted" }, "This process has no store: published records are not known here."));
          return;
        }
        replace(
          tree,
          h("p", { class: "meta" }, d.published + " lines published for " + d.name + "; the others answer as the parent they fall back to."),
          h(
            "table",
            { class: "lines" },
            h("thead", {}, h("tr", {}, ["Line", "Published?", "Answer"].map((t) => h("th", {}, t)))),
            h("tbody", {}, lineRows(d.lines, all))
          )
        );
      }
    );
    const clientSec = section(
      async () => (state.client ? await getJSON("/api/v1/dns/resolve" + q({ client: state.client })) : null),
      (d) => {
        if (!d) {
          replace(clientOut, h("span", { class: "muted" }, "Type an address or a CIDR (sent as EDNS Client Subnet)."));
          return;
        }
        replace(
          clientOut,
          h("p", {}, "client " + d.client + ": line ", h("strong", { id: "client-line" }, d.line), " (scope /" + d.scope + ")"),
          h("p", { class: "chain" }, "chain " + d.chain.join(" › ")),
          h(
            "ul",
            {},
            Object.entries(d.answers).map(([name, a]) =>
              h(
                "li",
                { "data-answer-for": name },
                name + " → ",
                h("strong", { class: "values" }, a.values.length ? a.values.join(", ") : "no answer"),
                " (from line " + (a.line || "-") + ")"
              )
            )
          )
        );
      }
    );
    const heatSec = section(
      async () => ({ d: await getJSON("/api/v1/dns/latency"), all: state.allLatency }),
      ({ d, all }) => replace(heat, heatmap(d, all))
    );
    section(
      async () =>
        getJSON("/api/v1/dns/changes" + q({ name: state.logName, since: state.since, limit: 50, offset: state.offset })),
      (d) => {
        replace(log, changesTable(d));
        replace(
          pager,
          state.offset > 0
            ? h("button", { type: "button", id: "newer", onclick: () => { state.offset = Math.max(0, state.offset - 50); refresh(); } }, "newer")
            : null,
          d.next ? h("button", { type: "button", id: "older", onclick: () => { state.offset += 50; refresh(); } }, "older") : null
        );
      }
    );
    section(() => getJSON("/api/v1/leader"), renderLeader);
    // an error in the box's input comes back as a 400; show it there rather than as a stale page
    const origLoad = clientSec.load;
    clientSec.load = async () => {
      try {
        return await origLoad();
      } catch (e) {
        return { error: e.message };
      }
    };
    const origRender = clientSec.render;
    clientSec.render = (d) => (d && d.error ? replace(clientOut, h("p", { class: "error" }, d.error)) : origRender(d));
  }

  // --- App -----------------------------------------------------------------------------------------

  function timeline(health) {
    const targets = health.states;
    // the window: from the first sample (at most the last hour) to now, so a young history is legible
    const since = new Date(health.since).getTime();
    const end = Date.now();
    let first = end;
    for (const list of Object.values(health.samples)) for (const p of list) first = Math.min(first, new Date(p.at).getTime());
    const start = Math.max(since, first - Math.max(2000, (end - first) * 0.05));
    const W = 900,
      ROW = 22,
      LEFT = 230;
    if (!targets.length) return h("p", { class: "muted" }, "No health samples in the store for this app yet.");
    const height = targets.length * ROW + 24;
    const x = (iso) => LEFT + ((new Date(iso).getTime() - start) / Math.max(1, end - start)) * (W - LEFT - 10);
    const rows = targets.map((t, i) => {
      const y = i * ROW + 4;
      const samples = health.samples[t.target_kind + ":" + t.target_id] || [];
      return s(
        "g",
        { "data-target": t.target_kind + ":" + t.target_id },
        s("text", { x: 4, y: y + 14, class: "label" }, t.region + " · " + t.target_kind),
        s("rect", { x: LEFT, y: y + 2, width: W - LEFT - 10, height: ROW - 6, class: "lane" }),
        samples.map((p) =>
          s("rect", { x: x(p.at) - 1.5, y: y + 4, width: 3, height: ROW - 10, class: p.ok ? "ok" : "bad" }, s("title", {}, when(p.at) + " " + (p.ok ? "ok" : "failed") + (p.detail ? ": " + p.detail : "")))
        )
      );
    });
    const marks = health.transitions
      .filter((t) => new Date(t.at).getTime() >= start)
      .map((t) =>
        s(
          "line",
          { x1: x(t.at), x2: x(t.at), y1: 0, y2: height - 20, class: "transition to-" + t.to_state },
          s("title", {}, when(t.at) + " " + t.region + " " + t.target_kind + ": " + t.from_state + " → " + t.to_state + " (" + t.reason + ")")
        )
      );
    return s(
      "svg",
      { viewBox: "0 0 " + W + " " + height, class: "timeline", role: "img", "aria-label": "health timeline" },
      rows,
      marks,
      s("text", { x: LEFT, y: height - 4, class: "axis" }, when(new Date(start).toISOString())),
      s("text", { x: W - 10, y: height - 4, class: "axis end" }, "now")
    );
  }

  function eventsTable(events, empty) {
    if (!events.length) return h("p", { class: "muted" }, empty);
    return h(
      "table",
      { class: "events" },
      h("thead", {}, h("tr", {}, ["When", "Type", "Reason", "Message", "Count"].map((t) => h("th", {}, t)))),
      h(
        "tbody",
        {},
        events.map((e) =>
          h(
            "tr",
            {},
            h("td", {}, when(e.lastTimestamp)),
            h("td", {}, e.type || "-"),
            h("td", {}, e.reason || "-"),
            h("td", {}, e.message),
            h("td", { class: "num" }, e.count)
          )
        )
      )
    );
  }

  function appPage(main, ns, name) {
    const head = h("div", { id: "app-head" });
    const regions = h("div", { id: "app-regions" });
    const slb = h("div", { id: "app-slb" });
    const chart = h("div", { id: "health-chart" });
    const trans = h("div", { id: "transitions" });
    const placement = h("div", { id: "placement" });
    const events = h("div", { id: "events" });
    replace(
      main,
      head,
      h("h2", {}, "Regions"),
      regions,
      h("h2", {}, "Load balancers"),
      slb,
      h("h2", {}, "Health over the last hour"),
      chart,
      trans,
      h("h2", {}, "Placement decisions"),
      placement,
      h("h2", {}, "Events"),
      events
    );
    section(
      () => getJSON("/api/v1/apps/" + encodeURIComponent(ns) + "/" + encodeURIComponent(name)),
      (d) => {
        const a = d.app;
        renderLeader(d.leader);
        replace(
          head,
          h("h2", {}, a.key, " ", condBadge(a.conditions.Ready)),
          h("p", { class: "meta" }, (a.hostname || "no hostname") + " · " + (a.policy || "-") + " · " + (a.strategy || "-") + " · " + (a.readyReplicas ?? 0) + "/" + (a.replicas ?? "?") + " replicas ready"),
          h("p", { class: "meta", id: "labels" }, "labels ", kv(a.labels)),
          h("p", { class: "meta", id: "annotations" }, "annotations ", kv(a.annotations)),
          h(
            "table",
            { class: "conditions" },
            h("thead", {}, h("tr", {}, ["Condition", "Status", "Reason", "Message"].map((t) => h("th", {}, t)))),
            h(
              "tbody",
              {},
              Object.entries(a.conditions).map(([t, c]) => h("tr", {}, h("td", {}, t), h("td", {}, c.status), h("td", {}, c.reason), h("td", {}, c.message)))
            )
          )
        );
        replace(regions, regionsTable(a));
        replace(
          slb,
          h(
            "table",
            { class: "slb" },
            h("thead", {}, h("tr", {}, ["Region", "SLB", "Address", "Listeners", "Backends"].map((t) => h("th", {}, t)))),
            h(
              "tbody",
              {},
              a.regions.map((r) =>
                h(
                  "tr",
                  {},
                  h("td", {}, r.region),
                  h("td", {}, r.loadBalancerId || "-"),
                  h("td", {}, r.address || "-"),
                  h("td", {}, r.listeners && r.listeners.length ? r.listeners.join(", ") : "-"),
                  h("td", {}, r.backendHealth ? backends(r.backendHealth) : r.backends ? JSON.stringify(r.backends) : "-")
                )
              )
            )
          )
        );
        replace(chart, timeline(d.health));
        replace(
          trans,
          d.health.transitions.length
            ? h(
                "table",
                { class: "transitions" },
                h("thead", {}, h("tr", {}, ["When", "Region", "Signal", "Target", "From", "To", "Reason"].map((t) => h("th", {}, t)))),
                h(
                  "tbody",
                  {},
                  d.health.transitions.map((t) =>
                    h("tr", {}, h("td", {}, when(t.at)), h("td", {}, t.region), h("td", {}, t.target_kind), h("td", {}, t.target_id), h("td", {}, t.from_state), h("td", {}, t.to_state), h("td", {}, t.reason))
                  )
                )
              )
            : h("p", { class: "muted" }, "No health transitions recorded.")
        );
        replace(placement, eventsTable(d.placement, "No placement decisions recorded as Events yet."));
        replace(events, eventsTable(d.events, "No Events."));
      }
    );
  }

  // --- router --------------------------------------------------------------------------------------

  function start() {
    const main = document.getElementById("main");
    const path = window.location.pathname;
    const m = path.match(/^\/apps\/([^/]+)\/([^/]+)$/);
    if (path === "/dns") {
      document.getElementById("nav-dns").className = "active";
      dnsPage(main);
    } else if (m) {
      appPage(main, decodeURIComponent(m[1]), decodeURIComponent(m[2]));
    } else {
      document.getElementById("nav-overview").className = "active";
      overviewPage(main);
    }
    refresh();
    window.setInterval(refresh, REFRESH_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
