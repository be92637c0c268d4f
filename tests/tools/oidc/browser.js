// Drives Debian's chromium (headless, through playwright-core) for the zsp
// integration tests: completes the provider's user step of a device sign-in
// and uses the broker's web approval page.
//
// usage: node browser.js device URL USER [--mfa] [--age SECONDS]
//        node browser.js web BROKER_URL USER SCRIPT_JSON
// SCRIPT_JSON lists steps for the web page; see runWebSteps. Prints one
// line per check and exits 1 on the first failure.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

async function launch() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'zsp-chromium-'));
  // A persistent context is how playwright takes a fresh --user-data-dir.
  // The provider and the broker use test CAs that chromium does not know,
  // hence ignoreHTTPSErrors.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    ignoreHTTPSErrors: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

async function signIn(page, user, options) {
  await page.waitForSelector('#login', { timeout: 15000 });
  await page.fill('#login', user);
  if (options.mfa) await page.check('#mfa');
  if (options.age) await page.fill('#age', String(options.age));
  await page.click('#sign-in');
}

async function runDevice(url, user, options) {
  const { context, close } = await launch();
  try {
    const page = await context.newPage();
    await page.goto(url);
    // The provider shows the code form (unless the URL carries the code),
    // the confirmation and the login form; the order depends on its
    // version, so each page is handled as it comes.
    for (let step = 0; step < 6; step += 1) {
      const shown = page.locator('#continue, #confirm, #login, #done');
      await shown.first().waitFor({ timeout: 15000 });
      const id = await shown.first().getAttribute('id');
      if (id === 'done') break;
      if (id === 'login') await signIn(page, user, options);
      else await page.click(`#${id}`);
      await page.waitForLoadState('load');
    }
    await page.waitForSelector('#done', { timeout: 15000 });
    console.log('device sign-in done');
  } finally {
    await close();
  }
}

function fail(message) {
  console.log(`FAIL ${message}`);
  process.exitCode = 1;
  throw new Error(message);
}

// Runs the steps of a web session in order, each on a fresh load of the
// page: {"do":"approve","request":ID,"comment":TEXT},
// {"do":"expect-no-approve","request":ID} (with "listed":false the page
// need not list the request),
// {"do":"post-without-csrf","request":ID}, {"do":"expect-text","text":TEXT},
// {"do":"print-session"} (prints the session cookie for the caller),
// {"do":"open-link","url":URL,"request":ID} (a notification's link shows
// the request's row), {"do":"logout-checks"} (GET and a POST without the CSRF token are
// rejected and leave the session), {"do":"logout"} (the sign-out button
// ends the session; a copy of the old cookie no longer works),
// {"do":"approve-after-step-up","request":ID} (the approval requires a
// fresh sign-in, the page's link to sign in again provides one, and the
// approval then passes) and {"do":"post-approve","request":ID,
// "status":N,"text":TEXT} (a POST with the session's CSRF token gets
// status N and a page with TEXT), {"do":"wait","seconds":N}.
async function runWebSteps(page, brokerUrl, user, steps) {
  for (const step of steps) {
    await page.goto(`${brokerUrl}/web/`);
    if (step.do === 'approve') {
      const form = page.locator(`form[data-request="${step.request}"][data-action="approve"]`);
      if (await form.count() !== 1) fail(`no approve form for ${step.request}`);
      await form.locator('input[name="comment"]').fill(step.comment || '');
      await form.locator('button[type="submit"]').click();
      await page.waitForLoadState('load');
      const text = await page.textContent('body');
      if (!text.includes(`approved ${step.request}`)) fail(`approval of ${step.request} not confirmed: ${text.slice(0, 300)}`);
      console.log(`ok approved ${step.request}`);
    } else if (step.do === 'expect-no-approve') {
      const text = await page.textContent('body');
      if (step.listed !== false && !text.includes(step.request)) fail(`own request ${step.request} not listed`);
      const count = await page.locator(`form[data-request="${step.request}"][data-action="approve"]`).count();
      if (count !== 0) fail(`approve form shown for own request ${step.request}`);
      console.log(`ok no approve button for ${step.request}`);
    } else if (step.do === 'post-without-csrf') {
      // The request context shares the browser's cookies, so this POST
      // carries the session cookie but no CSRF token.
      const response = await page.context().request.post(
        `${brokerUrl}/web/requests/${step.request}/approve`,
        { form: { comment: 'no csrf' }, maxRedirects: 0 },
      );
      if (response.status() !== 403) fail(`POST without CSRF token returned ${response.status()}, expected 403`);
      console.log(`ok POST without CSRF token rejected with ${response.status()}`);
    } else if (step.do === 'open-link') {
      await page.goto(step.url);
      const row = page.locator(`tr[id="${step.request}"]`);
      if (await row.count() !== 1) fail(`${step.url} shows no row for ${step.request}`);
      if (!await row.isVisible()) fail(`row of ${step.request} is hidden`);
      console.log(`ok link shows ${step.request}`);
    } else if (step.do === 'print-session') {
      const cookie = (await page.context().cookies()).find((c) => c.name === '__Host-zsp-session');
      if (!cookie) fail('no session cookie');
      console.log(`session-cookie ${cookie.value}`);
    } else if (step.do === 'logout-checks') {
      const request = page.context().request;
      const get = await request.get(`${brokerUrl}/web/logout`, { maxRedirects: 0 });
      if (get.status() !== 405) fail(`GET /web/logout returned ${get.status()}, expected 405`);
      console.log('ok GET /web/logout rejected with 405');
      const post = await request.post(`${brokerUrl}/web/logout`, { form: {}, maxRedirects: 0 });
      if (post.status() !== 403) fail(`POST /web/logout without CSRF token returned ${post.status()}, expected 403`);
      console.log('ok POST /web/logout without CSRF token rejected with 403');
      const still = await request.get(`${brokerUrl}/web/`, { maxRedirects: 0 });
      if (still.status() !== 200) fail(`session ended by a rejected sign-out: ${still.status()}`);
      console.log('ok session kept after rejected sign-outs');
    } else if (step.do === 'logout') {
      const before = (await page.context().cookies()).find((c) => c.name === '__Host-zsp-session');
      if (!before) fail('no session cookie before sign-out');
      await page.locator('form#logout button[type="submit"]').click();
      await page.waitForLoadState('load');
      const text = await page.textContent('body');
      if (!text.includes('Signed out')) fail(`sign-out not confirmed: ${text.slice(0, 300)}`);
      const after = (await page.context().cookies()).find((c) => c.name === '__Host-zsp-session');
      if (after && after.value !== '') fail('session cookie kept after sign-out');
      console.log('ok signed out and cookie cleared');
      const replay = await page.context().request.get(`${brokerUrl}/web/`, {
        headers: { cookie: `__Host-zsp-session=${before.value}` },
        maxRedirects: 0,
      });
      if (replay.status() !== 302) fail(`old session cookie still works: ${replay.status()}`);
      console.log('ok old session cookie rejected after sign-out');
    } else if (step.do === 'wait') {
      await new Promise((resolve) => { setTimeout(resolve, step.seconds * 1000); });
    } else if (step.do === 'approve-after-step-up') {
      const form = page.locator(`form[data-request="${step.request}"][data-action="approve"]`);
      if (await form.count() !== 1) fail(`no approve form for ${step.request}`);
      await form.locator('button[type="submit"]').click();
      await page.waitForLoadState('load');
      let text = await page.textContent('body');
      if (!text.includes('sign in again on the web page')) fail(`no step-up message: ${text.slice(0, 300)}`);
      console.log(`ok approval of ${step.request} asks for a fresh sign-in`);
      await page.click('#sign-in-again');
      await signIn(page, user, {});
      await page.waitForURL(`${brokerUrl}/web/**`, { timeout: 15000 });
      await page.goto(`${brokerUrl}/web/`);
      const again = page.locator(`form[data-request="${step.request}"][data-action="approve"]`);
      if (await again.count() !== 1) fail(`no approve form for ${step.request} after signing in again`);
      await again.locator('button[type="submit"]').click();
      await page.waitForLoadState('load');
      text = await page.textContent('body');
      if (!text.includes(`approved ${step.request}`)) fail(`approval after step-up not confirmed: ${text.slice(0, 300)}`);
      console.log(`ok approved ${step.request} after signing in again`);
    } else if (step.do === 'post-approve') {
      const csrf = await page.locator('form#logout input[name="csrf"]').getAttribute('value');
      const response = await page.context().request.post(
        `${brokerUrl}/web/requests/${step.request}/approve`,
        { form: { csrf }, maxRedirects: 0 },
      );
      const text = await response.text();
      if (response.status() !== step.status) fail(`POST approve of ${step.request} returned ${response.status()}, expected ${step.status}`);
      if (!text.includes(step.text)) fail(`POST approve of ${step.request} lacks "${step.text}"`);
      console.log(`ok POST approve of ${step.request} returned ${response.status()}`);
    } else if (step.do === 'expect-text') {
      const text = await page.textContent('body');
      if (!text.includes(step.text)) fail(`page lacks "${step.text}"`);
      console.log(`ok page shows "${step.text}"`);
    } else {
      fail(`unknown step ${step.do}`);
    }
  }
}

async function runWeb(brokerUrl, user, steps, options) {
  const { context, close } = await launch();
  try {
    const page = await context.newPage();
    await page.goto(`${brokerUrl}/web/`);
    await signIn(page, user, options);
    await page.waitForURL(`${brokerUrl}/web/**`, { timeout: 15000 });
    console.log(`ok ${user} signed in to the web page`);
    await runWebSteps(page, brokerUrl, user, steps);
  } finally {
    await close();
  }
}

function parseFlags(words) {
  const options = {};
  for (let i = 0; i < words.length; i += 1) {
    if (words[i] === '--mfa') options.mfa = true;
    else if (words[i] === '--age') options.age = Number(words[++i]);
    else throw new Error(`unknown option ${words[i]}`);
  }
  return options;
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'device') {
    await runDevice(rest[0], rest[1], parseFlags(rest.slice(2)));
  } else if (command === 'web') {
    await runWeb(rest[0], rest[1], JSON.parse(rest[2]), parseFlags(rest.slice(3)));
  } else {
    throw new Error('usage: browser.js device URL USER | web BROKER_URL USER STEPS');
  }
}

main().catch((error) => {
  console.error(`browser.js: ${error.message}`);
  process.exitCode = 1;
});
