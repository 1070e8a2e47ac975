// Drive a page in headless Chromium (Debian's /usr/bin/chromium) with playwright-core.
//
// The page reports its progress in document.body.dataset.state ("ready", then "done", or "error")
// and its outcome in window.edgeprepResult. Steps run in order after the page is ready:
//   --file SELECTOR=PATH   choose a file in an <input type=file>
//   --fill SELECTOR=TEXT   type into a text field
//   --click SELECTOR       click
// then the page is awaited to "done" (or "error"), an optional --screenshot PATH is taken, and
// {"state", "result", "shown" (the text of #result), "console", "errors"} is printed as JSON on stdout.
//
// node tests/clients/drive_browser.mjs URL [steps...] [--screenshot out.png] [--timeout 60000]

import { chromium } from "playwright-core";

const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

function parse(argv) {
  const [url, ...rest] = argv;
  const options = { url, steps: [], screenshot: null, timeout: 60000 };
  for (let i = 0; i < rest.length; i += 2) {
    const [flag, value] = [rest[i], rest[i + 1]];
    if (flag === "--screenshot") options.screenshot = value;
    else if (flag === "--timeout") options.timeout = Number(value);
    else if (["--file", "--fill", "--click"].includes(flag)) options.steps.push([flag.slice(2), value]);
    else throw new Error(`drive_browser: unknown argument ${flag}`);
  }
  if (!url) throw new Error("usage: node drive_browser.mjs URL [--file S=P] [--fill S=T] [--click S] [--screenshot P]");
  return options;
}

async function waitForState(page, states, timeout) {
  await page.waitForFunction((wanted) => wanted.includes(document.body?.dataset.state), states, { timeout });
  return page.evaluate(() => document.body.dataset.state);
}

async function drive(options) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: FLAGS,
    headless: true,
  });
  const messages = [];
  const errors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
    page.on("console", (message) => messages.push(`${message.type()}: ${message.text()}`));
    page.on("pageerror", (error) => errors.push(String(error)));
    page.on("requestfailed", (request) => errors.push(`request failed: ${request.url()}`));
    await page.goto(options.url);
    let state = await waitForState(page, ["ready", "done", "error"], options.timeout);
    if (state === "ready" && options.steps.length) {
      for (const [kind, value] of options.steps) {
        const split = value.indexOf("=");
        const [selector, argument] = split < 0 ? [value, ""] : [value.slice(0, split), value.slice(split + 1)];
        if (kind === "file") await page.setInputFiles(selector, argument);
        else if (kind === "fill") await page.fill(selector, argument);
        else await page.click(selector);
      }
    }
    if (state === "ready") {
      state = await waitForState(page, ["done", "error"], options.timeout);
    }
    if (options.screenshot) {
      await page.screenshot({ path: options.screenshot, fullPage: true });
    }
    const [result, shown] = await page.evaluate(() => [window.edgeprepResult ?? null, document.querySelector("#result")?.textContent ?? null]);
    return { state, result, shown, console: messages, errors };
  } finally {
    await browser.close();
  }
}

process.stdout.write(JSON.stringify(await drive(parse(process.argv.slice(2)))) + "\n");
