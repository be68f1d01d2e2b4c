// Opens GraphiQL from our server in headless Debian Chromium, runs a query with a token and saves a
// screenshot. Any request to another host is blocked and reported.
// usage: node browser.mjs <server url> <token> <screenshot path>
import { chromium } from 'playwright-core';

const [base, token, screenshot] = process.argv.slice(2);
const origin = new URL(base).origin;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const outside = [];
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(origin) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    outside.push(url);
    return route.abort();
  });
  const query = '{ viewer { role children { fullName certificate { number balance { available { amount } } } } } }';
  const headers = JSON.stringify({ Authorization: `Bearer ${token}` });
  await page.goto(`${base}/graphql?query=${encodeURIComponent(query)}&headers=${encodeURIComponent(headers)}`,
                  { waitUntil: 'networkidle' });
  await page.waitForSelector('.graphiql-execute-button', { timeout: 30000 });
  await page.click('.graphiql-execute-button');
  await page.waitForFunction(() => {
    const el = document.querySelector('.result-window');
    return el && el.textContent.includes('GUARDIAN');
  }, null, { timeout: 30000 });
  const result = await page.textContent('.result-window');
  await page.screenshot({ path: screenshot });
  process.stdout.write(JSON.stringify({ outside, result }));
} finally {
  await browser.close();
}
