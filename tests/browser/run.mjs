// Drives Debian's Chromium (headless) with playwright-core for tests/browser.rs.
//
//   node tests/browser/run.mjs <page url> <api origin> [<more page urls>...]
//
// Each page gets its own browser with a fresh profile (a new --user-data-dir,
// deleted afterwards): the page is loaded, its script's results are awaited
// (window.__cfsignResults), then the whole cookie jar is read. Prints one
// JSON object on stdout: {"chromium": path, "pages": [{page, browser_version,
// results, cookies, cookies_for_api, blocked_set_cookies, console,
// failed_requests}, ...]}. Exit 0 unless the browser could not be driven (a
// failed fetch is a result, not an error).
//
// Every *.localhost name is resolved to 127.0.0.1 (Chromium would also try
// ::1 first); the URL's host name, not the address, decides cookies and
// secure contexts.
//
// Environment: CFSIGN_BROWSER_CHROMIUM (default /usr/bin/chromium),
// CFSIGN_BROWSER_NODE_MODULES (default <repo>/target/browser/node_modules,
// where tests/browser/setup.sh installs playwright-core). Never downloads a
// browser.

import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const nodeModules = process.env.CFSIGN_BROWSER_NODE_MODULES || resolve(here, "../../target/browser/node_modules");
const executablePath = process.env.CFSIGN_BROWSER_CHROMIUM || "/usr/bin/chromium";
// Generous: the machine may be busy compiling. A normal run takes seconds.
const LAUNCH_TIMEOUT_MS = 30_000;
const STEP_TIMEOUT_MS = 20_000;
const WATCHDOG_MS = 90_000;

const [pageUrl, apiOrigin, ...morePages] = process.argv.slice(2);
if (!pageUrl || !apiOrigin) {
  console.error("usage: node run.mjs <page url> <api origin> [<more page urls>...]");
  process.exit(2);
}

// Whatever happens, never hang the Rust test.
const watchdog = setTimeout(() => {
  console.error(`run.mjs: gave up after ${WATCHDOG_MS} ms`);
  process.exit(3);
}, WATCHDOG_MS);

const require = createRequire(import.meta.url);
const { chromium } = require(join(nodeModules, "playwright-core"));

async function visit(url) {
  const userDataDir = await mkdtemp(join(tmpdir(), "cfsign-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    timeout: LAUNCH_TIMEOUT_MS,
    // --headless and --no-sandbox are also added by playwright-core itself;
    // --user-data-dir is the fresh directory above (playwright-core refuses
    // it among args and passes it itself).
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--host-resolver-rules=MAP localhost 127.0.0.1, MAP *.localhost 127.0.0.1",
    ],
  });
  const out = { page: url, console: [], failed_requests: [] };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    // Console API calls and the browser's own log entries (CORS refusals
    // are reported there, never to the page's script).
    page.on("console", (m) => out.console.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => out.console.push(`pageerror: ${e.message}`));
    page.on("requestfailed", (r) =>
      out.failed_requests.push({ url: r.url(), method: r.method(), error: r.failure()?.errorText ?? null }),
    );
    // Set-Cookie headers the browser refused, with its reasons (DevTools
    // protocol; playwright-core does not surface them otherwise).
    out.blocked_set_cookies = [];
    const cdp = await context.newCDPSession(page);
    cdp.on("Network.responseReceivedExtraInfo", (e) => {
      for (const b of e.blockedCookies ?? []) {
        out.blocked_set_cookies.push({ reasons: b.blockedReasons, name: b.cookie?.name ?? null, line: b.cookieLine });
      }
    });
    await cdp.send("Network.enable");
    await page.goto(url, { timeout: STEP_TIMEOUT_MS });
    await page.waitForFunction(() => window.__cfsignResults !== undefined, null, { timeout: STEP_TIMEOUT_MS });
    out.results = await page.evaluate(() => window.__cfsignResults);
    out.cookies = await context.cookies();
    out.browser_version = context.browser()?.version() ?? null;
    out.cookies_for_api = await context.cookies(apiOrigin);
  } finally {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
  }
  return out;
}

const pages = [];
for (const url of [pageUrl, ...morePages]) {
  pages.push(await visit(url));
}
clearTimeout(watchdog);
process.stdout.write(JSON.stringify({ chromium: executablePath, pages }) + "\n");
