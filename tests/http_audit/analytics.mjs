// The analysts' page in headless Debian Chromium: a token, measures and dimensions, the table and a
// chart (lines over months, then bars), the CSV link; then GraphiQL with the analysts' examples.
// Any request to another host is blocked and reported; console errors are reported.
// usage: node analytics.mjs <server url> <analyst token> <artifacts dir>
import { guard, launch } from './chromium.mjs';

const [base, token, artifacts] = process.argv.slice(2);
const origin = new URL(base).origin;
const browser = await launch();
const outside = [];
const problems = [];
const report = {};
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  await guard(context, origin, outside);
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  const response = await page.goto(`${base}/analytics`, { waitUntil: 'networkidle' });
  report.csp = response.headers()['content-security-policy'] || null;

  async function show(measures, dims, shot) {
    await page.fill('#token', token);
    for (const box of await page.$$('input[name=measure]')) {
      const value = await box.getAttribute('value');
      if (measures.includes(value) !== await box.isChecked()) await box.click();
    }
    for (let i = 0; i < 3; i++) await page.selectOption(`#dim${i + 1}`, dims[i] || '');
    await page.click('#show');
    await page.waitForFunction(
      (n) => window.pdoChart && document.querySelectorAll('#table tr').length > 2
        && !document.querySelector('#status').textContent.startsWith('Загрузка') && window.pdoChart.points >= n,
      1, { timeout: 30000 });
    await page.waitForTimeout(200);
    await page.screenshot({ path: `${artifacts}/${shot}`, fullPage: true });
    return {
      chart: await page.evaluate(() => window.pdoChart),
      rows: await page.$$eval('#table tr', (rows) => rows.length - 1),
      withheld: await page.$$eval('#table td.withheld', (cells) => cells.length),
      status: await page.textContent('#status'),
      header: await page.$$eval('#table th', (cells) => cells.map((c) => c.textContent)),
      canvas: await page.$eval('#chart', (c) => ({ width: c.width, height: c.height })),
    };
  }

  report.lines = await show(['SPENT'], ['MONTH'], 'analytics-months.png');
  report.bars = await show(['CHILDREN_ENROLLED'], ['MUNICIPALITY', 'DIRECTION'], 'analytics-bars.png');
  const href = await page.getAttribute('#csv', 'href');
  report.csv = await page.evaluate(async (url) => {
    const r = await fetch(url);
    const bytes = new Uint8Array(await r.arrayBuffer());
    return { status: r.status, href: url, bom: bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf };
  }, href);

  const graphiql = await context.newPage();
  graphiql.on('pageerror', (e) => problems.push(String(e)));
  const headers = JSON.stringify({ Authorization: `Bearer ${token}` });
  await graphiql.goto(`${base}/graphql?examples=analytics&headers=${encodeURIComponent(headers)}`,
                      { waitUntil: 'networkidle' });
  await graphiql.waitForSelector('.graphiql-execute-button', { timeout: 30000 });
  report.tabs = await graphiql.$$eval('.graphiql-tab', (tabs) => tabs.map((t) => t.textContent.trim()));
  await graphiql.click('.graphiql-execute-button');
  await graphiql.waitForFunction(() => {
    const el = document.querySelector('.result-window');
    return el && el.textContent.includes('columns');
  }, null, { timeout: 30000 });
  report.result = (await graphiql.textContent('.result-window')).slice(0, 400);
  await graphiql.screenshot({ path: `${artifacts}/graphiql-analytics.png` });
  process.stdout.write(JSON.stringify({ outside, problems, ...report }));
} finally {
  await browser.close();
}
