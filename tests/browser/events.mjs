// Opens the tutorial's home page in Debian's Chromium (headless), listens to
// the tutorial's /events stream with the browser's own EventSource, and
// prints each event as it arrives ("EVENT <data> <ms since the first>").
//   node tests/browser/events.mjs http://127.0.0.1:PORT/ COUNT INTERVAL_MS
import { launchChromium } from './launch.mjs';

const [url, count, interval] = process.argv.slice(2);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(url);
  const events = await page.evaluate(([count, interval]) => new Promise((resolve, reject) => {
    const seen = [];
    const source = new EventSource(`/events?count=${count}&interval_ms=${interval}`);
    source.onmessage = (e) => {
      seen.push([e.data, e.lastEventId, performance.now()]);
      if (seen.length === Number(count)) {
        source.close(); // else EventSource reconnects when the stream ends
        resolve(seen);
      }
    };
    source.onerror = () => { source.close(); reject(new Error('EventSource error after ' + seen.length)); };
  }), [count, interval]);
  const first = events[0][2];
  for (const [data, id, at] of events) console.log(`EVENT ${data} ${id} ${Math.round(at - first)}`);
} finally {
  await browser.close();
}
