// Opens the tutorial's home page in Debian's Chromium (headless) and prints
// the lines its JavaScript websocket test writes, once DISCONNECTED shows.
//   node tests/browser/tutorial.mjs http://127.0.0.1:PORT/
import { launchChromium } from './launch.mjs';

const url = process.argv[2];
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(url);
  console.log('TITLE: ' + await page.title());
  await page.waitForFunction(
    () => document.getElementById('output').innerText.includes('DISCONNECTED'),
    null, { timeout: 15000 });
  const lines = await page.$$eval('#output p', (ps) => ps.map((p) => p.textContent));
  for (const line of lines) console.log(line);
} finally {
  await browser.close();
}
