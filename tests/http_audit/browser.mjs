// Opens GraphiQL from our server in headless Debian Chromium, runs a query with a token and saves a
// screenshot. Any request to another host is blocked and reported.
// usage: node browser.mjs <server url> <token> <screenshot path>
import { guard, launch } from './chromium.mjs';

const [base, token, screenshot] = process.argv.slice(2);
const origin = new URL(base).origin;
const browser = await launch();
const outside = [];
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await guard(page, origin, outside);
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
