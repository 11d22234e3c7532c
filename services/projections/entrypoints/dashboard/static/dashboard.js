// The city's dashboard: renders the public overview (GET /v1/public/overview) and follows
// it live over Server-Sent Events (GET /v1/public/stream). Every number shown carries the
// API's raw value in data-value, so the browser test can compare the two.
"use strict";

(function () {
  const t = JSON.parse(document.getElementById("labels").textContent);
  const snapshot = document.body.dataset.snapshot || "";
  const locale = t.locale;
  const formats = {
    int: new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }),
    percent: new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 }),
    ratio: new Intl.NumberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 }),
  };
  const when = new Intl.DateTimeFormat(locale, {
    dateStyle: "medium", timeStyle: "medium", timeZone: "Asia/Bangkok",
  });
  // Axis steps in whole coins and people: no "0.5 riders".
  const wholeSteps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5,
    2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8];
  const clock = new Intl.DateTimeFormat(locale, { timeStyle: "medium", timeZone: "Asia/Bangkok" });
  const palette = ["#0b6e4f", "#f4a259", "#3d5a80", "#e76f51", "#8e7dbe", "#98c1d9"];
  const state = { renders: 0, last: null, charts: {}, timeline: [[], [], []] };
  window.kgoDashboard = state;

  // A field is named by one path ("week.spent") or by alternatives ("week.spent
  // this_week.spent"): the first path the overview has is shown.
  function lookup(overview, paths) {
    for (const path of paths.split(" ")) {
      const keys = path.split(".");
      let parent = null;
      let value = overview;
      let found = true;
      for (const key of keys) {
        if (value == null || typeof value !== "object" || !(key in value)) { found = false; break; }
        parent = value;
        value = value[key];
      }
      if (found) return { found, parent, key: keys[keys.length - 1], value };
    }
    return { found: false, parent: null, key: null, value: undefined };
  }

  function valueOf(overview, paths) {
    const { value } = lookup(overview, paths);
    return value == null ? 0 : value;
  }

  // A count withheld for privacy (fewer than k residents) is null beside a `suppressed`
  // marker: true, a list of the withheld keys, or an object keyed by them.
  function suppressed(parent, key) {
    const marker = parent && parent.suppressed;
    if (marker === true) return true;
    if (Array.isArray(marker)) return marker.includes(key);
    return Boolean(marker && typeof marker === "object" && marker[key]);
  }

  // Budgets come as {programme: coins} or as [{programme, label, coins}].
  function budgets(supply) {
    const given = (supply && supply.budgets) || {};
    if (Array.isArray(given)) return given.map((b) => [b.programme, b.label || b.programme, b.coins]);
    return Object.entries(given).map(([programme, coins]) => [programme, programme, coins]);
  }

  function budgetsTotal(supply) {
    return budgets(supply).reduce((sum, [, , coins]) => sum + (coins || 0), 0);
  }

  let k = 10;

  function show(el, value, parent, key) {
    el.dataset.value = JSON.stringify(value === undefined ? null : value);
    el.removeAttribute("title");
    if (value == null) {
      const hidden = suppressed(parent, key);
      el.textContent = hidden ? `< ${k}` : "—";
      if (hidden) el.title = t.suppressed.replace("{k}", k);
      return;
    }
    el.textContent = formats[el.dataset.format || "int"].format(value);
  }

  function renderFields(overview) {
    k = overview.suppress_below || 10;
    for (const el of document.querySelectorAll("[data-field]")) {
      const paths = el.dataset.field;
      if (paths === "supply.budgets_total") {
        show(el, budgetsTotal(overview.supply), null, null);
        continue;
      }
      const { found, parent, key, value } = lookup(overview, paths);
      // A figure this API does not offer at all is left out, not shown as missing.
      const holder = el.closest("tr, figure");
      if (holder) holder.hidden = !found;
      if (!found) {
        el.dataset.value = "absent";
        el.textContent = "—";
        continue;
      }
      show(el, value, parent, key);
    }
    for (const gauge of document.querySelectorAll("[data-gauge]")) {
      const { value } = lookup(overview, gauge.dataset.gauge);
      const share = value == null ? 0 : Math.max(0, Math.min(1, value));
      gauge.querySelector(".value").setAttribute("stroke-dasharray", `${share * 100} 100`);
      gauge.dataset.value = JSON.stringify(value == null ? null : value);
    }
  }

  function renderRows(tbody, rows, prefix) {
    tbody.replaceChildren(...rows.map(([name, label, value]) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      const td = document.createElement("td");
      th.textContent = label;
      td.className = "num";
      td.dataset.row = `${prefix}:${name}`;
      show(td, value, null, null);
      tr.append(th, td);
      return tr;
    }));
  }

  function barChart(id, color) {
    const el = document.getElementById(id);
    const chart = { el, names: [], plot: null, color };
    chart.update = function (names, values) {
      const xs = names.map((_, i) => i);
      if (chart.plot && names.join("\u0000") === chart.names.join("\u0000")) {
        chart.plot.setData([xs, values]);
        return;
      }
      chart.names = names;
      if (chart.plot) chart.plot.destroy();
      chart.plot = new uPlot({
        width: Math.max(el.clientWidth, 240),
        height: el.classList.contains("small") ? 160 : 240,
        legend: { show: false },
        cursor: { show: false },
        scales: {
          x: { time: false, range: () => [-0.5, Math.max(chart.names.length, 1) - 0.5] },
          y: { range: (u, min, max) => [0, Math.max(max, 1) * 1.15] },
        },
        axes: [
          { font: "12px Sarabun, sans-serif", grid: { show: false }, splits: () => chart.names.map((_, i) => i),
            values: (u, splits) => splits.map((i) => chart.names[i] ?? "") },
          { font: "12px Sarabun, sans-serif", size: 64, incrs: wholeSteps, values: (u, splits) => splits.map((v) => formats.int.format(v)) },
        ],
        series: [{}, {
          label: t.coins, fill: color, stroke: color, width: 0, points: { show: false },
          paths: uPlot.paths.bars({ size: [0.6, 90] }),
        }],
      }, [xs, values], el);
    };
    return chart;
  }

  function timelineChart() {
    const el = document.getElementById("chart-timeline");
    const plot = new uPlot({
      width: Math.max(el.clientWidth, 240),
      height: 220,
      scales: { x: { time: true, auto: false }, y: { range: (u, min, max) => [0, Math.max(max, 1) * 1.15] } },
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Asia/Bangkok"),
      axes: [
        { font: "12px Sarabun, sans-serif", values: (u, splits) => splits.map((v) => clock.format(new Date(v * 1e3))) },
        { font: "12px Sarabun, sans-serif", size: 64, incrs: wholeSteps, values: (u, splits) => splits.map((v) => formats.int.format(v)) },
      ],
      series: [
        {},
        { label: t.granted, stroke: palette[0], width: 2 },
        { label: t.spent, stroke: palette[1], width: 2 },
      ],
    }, state.timeline, el);
    return { el, plot };
  }

  function renderCharts(overview) {
    const supply = overview.supply || {};
    const names = [t.municipality, t.budgets, t.residents, t.shops, t.operator, t.held];
    const values = [valueOf(overview, "supply.municipality"), budgetsTotal(supply),
      valueOf(overview, "supply.residents"), valueOf(overview, "supply.shops"),
      valueOf(overview, "supply.operator supply.bus_operator"), valueOf(overview, "supply.held")];
    state.charts.supply.update(names, values);
    const granted = lookup(overview, "week.granted this_week.granted").value;
    const spent = lookup(overview, "week.spent this_week.spent").value;
    state.charts.week.update([t.granted, t.spent], [granted || 0, spent || 0]);
    const districts = overview.shops_by_district || [];
    state.charts.districts.update(districts.map((d) => d.district), districts.map((d) => d.shops || 0));
    if (!snapshot) {
      const [ts, grantedSeries, spentSeries] = state.timeline;
      ts.push(Date.now() / 1000);
      grantedSeries.push(granted ?? null);
      spentSeries.push(spent ?? null);
      if (ts.length > 500) state.timeline.forEach((series) => series.shift());
      const plot = state.charts.timeline.plot;
      plot.setData(state.timeline, false);
      // Set by hand: uPlot spreads a single point over years.
      const [first, last] = [ts[0], ts[ts.length - 1]];
      const pad = Math.max(0, 60 - (last - first) / 2);
      plot.setScale("x", { min: first - pad, max: last + pad });
    }
  }

  function renderAsOf(asOf) {
    asOf = asOf || {};
    const time = (snapshot && asOf.snapshot_until) || asOf.business_time;
    const moment = time ? when.format(new Date(time)) : asOf.snapshot || "—";
    document.getElementById("as-of-time").textContent = moment;
    const lag = asOf.lag_seconds;
    document.getElementById("as-of-lag").textContent =
      lag == null || snapshot ? "" : t.lag.replace("{n}", formats.int.format(Math.round(lag)));
  }

  function render(overview) {
    renderFields(overview);
    renderRows(document.getElementById("budgets"), budgets(overview.supply), "budget");
    const districts = (overview.shops_by_district || []).map((d) => [d.district, d.district, d.shops]);
    renderRows(document.getElementById("districts"), districts, "district");
    renderCharts(overview);
    renderAsOf(overview.as_of);
    state.last = overview;
    state.renders += 1;
    document.body.dataset.renders = String(state.renders);
  }

  function setStatus(name, text) {
    const el = document.getElementById("status");
    el.dataset.state = name;
    el.textContent = text;
  }

  function showError(text) {
    const el = document.getElementById("error");
    el.textContent = text;
    el.hidden = !text;
  }

  function follow() {
    const source = new EventSource("/v1/public/stream");
    source.addEventListener("open", () => setStatus("live", t.live));
    source.addEventListener("error", () => setStatus("reconnecting", t.reconnecting));
    source.addEventListener("overview", (event) => {
      setStatus("live", t.live);
      render(JSON.parse(event.data));
      listDigests();
    });
    window.addEventListener("pagehide", () => source.close());
  }

  async function showSnapshot() {
    setStatus("snapshot", `${t.snapshot} ${snapshot}`);
    const answer = await fetch(`/v1/public/overview?snapshot=${encodeURIComponent(snapshot)}`);
    if (!answer.ok) {
      showError(`${t.snapshot_missing} (${snapshot})`);
      return;
    }
    render(await answer.json());
  }

  // The past cities the API offers (GET /v1/public/snapshots), to pick one.
  async function listSnapshots() {
    const answer = await fetch("/v1/public/snapshots");
    if (!answer.ok) return;
    const names = (await answer.json()).snapshots || [];
    if (!names.length) return;
    const form = document.getElementById("snapshot-form");
    const select = form.querySelector("select");
    select.replaceChildren(...names.map((name) => {
      const option = document.createElement("option");
      option.value = option.textContent = name;
      option.selected = name === snapshot;
      return option;
    }));
    form.hidden = false;
  }

  // The signed daily digests (GET /v1/public/digests), newest first: the last week.
  const dayFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" });
  let digestsAt = 0;
  async function listDigests() {
    if (Date.now() - digestsAt < 30000) return;
    digestsAt = Date.now();
    let answer;
    try {
      answer = await fetch("/v1/public/digests");
    } catch (error) {
      return; // offline for a moment: the next overview asks again
    }
    if (!answer.ok) return;
    const digests = ((await answer.json()).digests || []).slice(-7).reverse();
    if (!digests.length) return;
    const tbody = document.getElementById("digests");
    tbody.replaceChildren(...digests.map((d) => {
      const tr = document.createElement("tr");
      const cells = [
        dayFormat.format(new Date(`${d.day}T00:00:00Z`)),
        formats.int.format(d.record_count),
        formats.int.format(d.totals.granted),
        formats.int.format(d.totals.spent_at_shops),
        formats.int.format(d.totals.fares),
        `${d.digest_sha256.slice(0, 16)}…`,
      ];
      cells.forEach((text, i) => {
        const cell = document.createElement(i ? "td" : "th");
        cell.textContent = text;
        if (i) cell.className = "num";
        tr.append(cell);
      });
      tr.dataset.digest = d.day;
      return tr;
    }));
  }

  function start() {
    state.charts.supply = barChart("chart-supply", palette[2]);
    state.charts.week = barChart("chart-week", palette[0]);
    state.charts.districts = barChart("chart-districts", palette[3]);
    state.charts.timeline = timelineChart();
    window.addEventListener("resize", () => {
      for (const chart of Object.values(state.charts)) {
        if (chart.plot) chart.plot.setSize({ width: Math.max(chart.el.clientWidth, 240), height: chart.plot.height });
      }
    });
    // Canvas text is drawn once: redraw when the vendored Thai font has arrived.
    document.fonts.ready.then(() => {
      for (const chart of Object.values(state.charts)) if (chart.plot) chart.plot.redraw(false, true);
    });
    if (snapshot) showSnapshot(); else follow();
    listSnapshots();
    listDigests();
  }

  start();
})();
