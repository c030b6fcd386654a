// Test-only: runs Lighthouse (pinned in package-lock.json) on pages in turn, in headless
// Chromium ($CHROME_PATH), for one form factor, and prints what tests/browser/test_lighthouse.py
// asserts, as JSON on stdout.
//
//   node lighthouse.mjs mobile|desktop '[{"url": "...", "headers": {"Cookie": "..."}}, ...]'
//
// Throttling is Lighthouse's default, simulated: the page loads at full speed and the metrics
// are computed for a slow network and CPU, so a busy test machine moves them less.
import * as chromeLauncher from "chrome-launcher";
import lighthouse from "lighthouse";
import desktopConfig from "lighthouse/core/config/desktop-config.js";

const [formFactor, pagesJson] = process.argv.slice(2);
if (!["mobile", "desktop"].includes(formFactor) || !pagesJson) {
  console.error("usage: node lighthouse.mjs mobile|desktop PAGES_JSON");
  process.exit(2);
}
const CATEGORIES = ["performance", "accessibility", "best-practices", "seo"];

/** Each category's score, and every weighted audit in it that did not score 1. */
function summary(lhr) {
  const categories = {};
  const lost = {};
  for (const id of CATEGORIES) {
    const category = lhr.categories[id];
    categories[id] = category ? category.score : null;
    lost[id] = (category ? category.auditRefs : [])
      .filter((ref) => ref.weight > 0 && lhr.audits[ref.id].score !== 1)
      .map((ref) => {
        const audit = lhr.audits[ref.id];
        // Which elements, for the audits that name them (accessibility's do).
        const nodes = (audit.details?.items ?? [])
          .map((item) => item.node && `${item.node.snippet} ${item.node.explanation ?? ""}`.trim())
          .filter(Boolean)
          .slice(0, 5);
        return { id: ref.id, score: audit.score, title: audit.title, value: audit.displayValue ?? null, nodes };
      });
  }
  const crawlable = lhr.audits["is-crawlable"];
  return {
    url: lhr.finalDisplayedUrl,
    runtimeError: lhr.runtimeError ?? null,
    warnings: lhr.runWarnings,
    categories,
    lost,
    isCrawlable: crawlable ? { score: crawlable.score, items: crawlable.details?.items ?? [] } : null,
  };
}

// A fresh Chromium (and profile) for each page: a cookie that one page's answer set (a
// session's sliding expiry re-sends it) must not sign the next page in.
const results = [];
for (const page of JSON.parse(pagesJson)) {
  const chrome = await chromeLauncher.launch({
    chromePath: process.env.CHROME_PATH,
    chromeFlags: ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"],
  });
  try {
    const flags = {
      port: chrome.port,
      output: "json",
      logLevel: "error",
      onlyCategories: CATEGORIES,
      extraHeaders: page.headers ?? undefined,
      // A loaded machine is slow: wait long rather than report a half-loaded page.
      maxWaitForLoad: 120_000,
      maxWaitForFcp: 60_000,
    };
    const result = await lighthouse(page.url, flags, formFactor === "desktop" ? desktopConfig : undefined);
    results.push(summary(result.lhr));
  } finally {
    await chrome.kill();
  }
}
process.stdout.write(JSON.stringify(results));
