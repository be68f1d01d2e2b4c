// The analysts' page: asks /graphql for a table with the pasted token, shows the table and a chart
// (Chart.js: lines over months when MONTH is a dimension, otherwise bars over the first dimension).
"use strict";

const MEASURES = [
  ["CERTIFICATES", "Выдано сертификатов"],
  ["FUNDED_CERTIFICATES", "Сертификаты финансирования"],
  ["QUEUED_CERTIFICATES", "В очереди на финансирование"],
  ["CHILDREN_ENROLLED", "Дети с договорами"],
  ["ENROLLMENTS", "Заключено договоров"],
  ["CREDITED", "Зачислено, ₽"],
  ["RESERVED", "В резерве, ₽"],
  ["SPENT", "Израсходовано, ₽"],
  ["EXPIRED", "Сгорело, ₽"],
  ["AVERAGE_COMPLETENESS", "Средняя полнота, %"],
];
const DIMENSIONS = [
  ["", "—"],
  ["MUNICIPALITY", "Муниципалитет"],
  ["DIRECTION", "Направление"],
  ["MONTH", "Месяц"],
  ["AGE", "Возраст"],
  ["FUNDING_KIND", "Вид финансирования"],
  ["PROVIDER", "Поставщик (ИНН)"],
];
const DIRECTIONS = {
  TECHNICAL: "Техническая",
  NATURAL_SCIENCE: "Естественнонаучная",
  PHYSICAL_SPORTS: "Физкультурно-спортивная",
  ARTS: "Художественная",
  TOURISM_LOCAL_HISTORY: "Туристско-краеведческая",
  SOCIAL_HUMANITARIAN: "Социально-гуманитарная",
};
const KINDS = { CERTIFICATE: "ПФ (сертификат)", MUNICIPAL: "Муниципальное задание", PAID: "Платные" };
const LABEL = Object.fromEntries([...MEASURES, ...DIMENSIONS.slice(1)]);
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf", "#393b79", "#637939"];
const MAX_SERIES = 12;

const QUERY = `query AnalyticsPage($measures: [AnalyticsMeasure!]!, $by: [AnalyticsDimension!]!,
                                   $filter: AnalyticsQueryFilter) {
  analytics(measures: $measures, by: $by, filter: $filter) {
    columns rows suppressed csvUrl asOf monthFrom monthTo
  }
}`;

const $ = (id) => document.getElementById(id);
let chart = null;

function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

function setup() {
  for (const [value, text] of MEASURES) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = "measure";
    box.value = value;
    box.checked = value === "CHILDREN_ENROLLED";
    label.append(box, " " + text);
    $("measures").append(label);
  }
  for (const id of ["dim1", "dim2", "dim3"]) {
    for (const [value, text] of DIMENSIONS) $(id).append(option(value, text));
  }
  $("dim1").value = "MONTH";
  $("direction").append(option("", "все"));
  for (const [value, text] of Object.entries(DIRECTIONS)) $("direction").append(option(value, text));
  $("token").value = sessionStorage.getItem("pdo-analytics-token") || "";
  $("query").addEventListener("submit", (event) => {
    event.preventDefault();
    show();
  });
}

function month(input) {
  return input.value ? `${input.value}-01` : null;
}

function shown(column, value) {
  if (value === null) return "Итого";
  if (column === "DIRECTION") return DIRECTIONS[value] || value;
  if (column === "FUNDING_KIND") return KINDS[value] || value;
  if (column === "MONTH") return value.slice(0, 7);
  return value;
}

async function show() {
  const token = $("token").value.trim();
  sessionStorage.setItem("pdo-analytics-token", token);
  const measures = [...document.querySelectorAll("input[name=measure]:checked")].map((b) => b.value);
  const by = ["dim1", "dim2", "dim3"].map((id) => $(id).value).filter((v, i, all) => v && all.indexOf(v) === i);
  const filter = {
    monthFrom: month($("monthFrom")),
    monthTo: month($("monthTo")),
    municipality: $("municipality").value.trim() || null,
    direction: $("direction").value || null,
  };
  status("Загрузка…");
  let body;
  try {
    const response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: QUERY, variables: { measures, by, filter }, operationName: "AnalyticsPage" }),
    });
    body = await response.json();
  } catch (error) {
    status(`Сервер недоступен: ${error}`, true);
    return;
  }
  if (body.errors && body.errors.length) {
    status(body.errors[0].message, true);
    return;
  }
  render(body.data.analytics);
}

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

function render(table) {
  const asOf = table.asOf ? new Date(table.asOf).toLocaleString("ru-RU") : "ещё не рассчитаны";
  const months = table.monthFrom ? `${table.monthFrom.slice(0, 7)} — ${table.monthTo.slice(0, 7)}` : "—";
  status(`Данные на ${asOf}; месяцы ${months}; скрыто значений: ${table.suppressed}.`);
  $("result").hidden = false;
  $("csv").href = table.csvUrl;
  renderTable(table);
  renderChart(table);
}

function renderTable(table) {
  const dims = table.columns.filter((c) => MEASURES.every(([m]) => m !== c)).length;
  const head = document.createElement("tr");
  table.columns.forEach((c, i) => {
    const th = document.createElement("th");
    th.textContent = LABEL[c] || c;
    if (i < dims) th.className = "dim";
    head.append(th);
  });
  const rows = table.rows.map((row) => {
    const tr = document.createElement("tr");
    if (row.slice(0, dims).some((v) => v === null)) tr.className = "total";
    row.forEach((value, i) => {
      const td = document.createElement("td");
      td.textContent = i < dims ? (value === null ? "Итого" : shown(table.columns[i], value)) : (value === null ? "…" : value);
      if (i < dims) td.className = "dim";
      else if (value === null) td.className = "withheld";
      tr.append(td);
    });
    return tr;
  });
  $("table").replaceChildren(head, ...rows);
}

function renderChart(table) {
  const dims = table.columns.filter((c) => MEASURES.every(([m]) => m !== c));
  const measures = table.columns.slice(dims.length);
  const detail = table.rows.filter((r) => r.slice(0, dims.length).every((v) => v !== null));
  const number = (v) => (v === null ? null : Number(v));
  let config;
  if (dims.length === 0) {
    const row = table.rows[0] || [];
    config = {
      type: "bar",
      data: {
        labels: measures.map((m) => LABEL[m] || m),
        datasets: [{ label: "Итого", data: row.map(number), backgroundColor: COLORS[0] }],
      },
    };
  } else {
    const monthAt = dims.indexOf("MONTH");
    const xAt = monthAt >= 0 ? monthAt : 0;
    const rest = dims.map((_, i) => i).filter((i) => i !== xAt);
    const labels = [...new Set(detail.map((r) => r[xAt]))];
    const series = new Map();
    for (const r of detail) {
      // one series per combination of the other dimensions and measure
      for (let m = 0; m < measures.length; m++) {
        const name = [...rest.map((i) => shown(dims[i], r[i])), measures.length > 1 ? LABEL[measures[m]] : null]
          .filter((x) => x !== null).join(" · ") || LABEL[measures[m]];
        if (!series.has(name)) series.set(name, new Map());
        series.get(name).set(r[xAt], number(r[dims.length + m]));
      }
    }
    const datasets = [...series.entries()].slice(0, MAX_SERIES).map(([name, values], i) => ({
      label: name,
      data: labels.map((x) => (values.has(x) ? values.get(x) : null)),
      borderColor: COLORS[i % COLORS.length],
      backgroundColor: COLORS[i % COLORS.length],
      spanGaps: false,
    }));
    config = {
      type: monthAt >= 0 ? "line" : "bar",
      data: { labels: labels.map((x) => shown(dims[xAt], x)), datasets },
    };
  }
  config.options = {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    plugins: { legend: { position: "bottom" } },
  };
  if (chart) chart.destroy();
  chart = new Chart($("chart"), config);
  window.pdoChart = { type: config.type, datasets: config.data.datasets.length, points: config.data.labels.length };
}

setup();
