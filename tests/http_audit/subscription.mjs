// Runs a subscription in GraphiQL (headless Debian Chromium): the page's fetcher sends it over
// WebSocket with the headers editor's Authorization in connection_init. Prints "ready" once the first
// result is shown, then waits until the result shows `expect`, saves a screenshot and prints the
// result. Any request to another host is blocked and reported.
// usage: node subscription.mjs <server url> <token> <query> <first> <expect> <screenshot path>
import { guard, launch } from './chromium.mjs';

const [base, token, query, first, expect, screenshot] = process.argv.slice(2);
const origin = new URL(base).origin;
const browser = await launch();
const outside = [];
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await guard(page, origin, outside);
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  const headers = JSON.stringify({ Authorization: `Bearer ${token}` });
  await page.goto(`${base}/graphql?query=${encodeURIComponent(query)}&headers=${encodeURIComponent(headers)}`,
                  { waitUntil: 'networkidle' });
  await page.waitForSelector('.graphiql-execute-button', { timeout: 30000 });
  await page.click('.graphiql-execute-button');
  const shows = (text) => page.waitForFunction((t) => {
    const el = document.querySelector('.result-window');
    return el && el.textContent.includes(t);
  }, text, { timeout: 30000 });
  await shows(first);
  process.stdout.write('ready\n');
  await shows(expect);
  const result = await page.textContent('.result-window');
  await page.screenshot({ path: screenshot });
  process.stdout.write(JSON.stringify({ outside, sockets, result }) + '\n');
} finally {
  await browser.close();
}
