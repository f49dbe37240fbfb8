// Debian's Chromium, driven by playwright-core (no browser download: the
// machine's /usr/bin/chromium), and the page actions the cases share.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { REPO } from './servers.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless, and nothing that reaches for the network on its own (this
 * machine has none: without the background-networking flags Chromium's
 * connections pile up refused). Playwright adds `--user-data-dir` itself: a
 * new empty profile in a fresh temporary directory per launched browser,
 * deleted when it closes (it refuses the flag in `args`).
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** A new context (its own cookie jar): light colours, a small window. */
export function newContext(browser) {
  return browser.newContext({
    viewport: { width: 720, height: 560 },
    deviceScaleFactor: 1,
    colorScheme: 'light',
    locale: 'en-US',
  });
}

// Test runs write their pictures under target/ (ignored), so that a run
// leaves the work tree as it was; `SESH_E2E_SCREENSHOTS=docs/screenshots`
// refreshes the committed ones.
export const SCREENSHOTS =
  process.env.SESH_E2E_SCREENSHOTS ?? path.join(REPO, 'target', 'e2e-screenshots');

/** Saves a PNG of the page as <SCREENSHOTS>/<name>. */
export async function screenshot(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, name), fullPage: true });
}

/**
 * Runs `action` (a click that submits a form, a reload, …) and waits for the
 * navigation it starts; returns the main document's final response.
 */
export async function navigation(page, action) {
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), action()]);
  return response;
}

/** Fills the login form and submits it. Returns the final response. */
export async function submitLogin(page, username, password) {
  await page.fill('#username', username);
  await page.fill('#password', password);
  return navigation(page, () => page.click('form[action="/login"] button[type="submit"]'));
}

/** Opens `base/` and logs in as admin; asserts the status page shows. */
export async function logIn(page, base) {
  await page.goto(`${base}/`);
  await expectLoggedOut(page);
  const response = await submitLogin(page, 'admin', 'admin');
  assert.equal(response.status(), 200);
  const post = response.request().redirectedFrom();
  assert.equal(post?.method(), 'POST', 'the login POST answered with a redirect');
  await expectLoggedIn(page);
  return response;
}

/** Clicks the logout button; asserts the login form shows. */
export async function logOut(page) {
  const response = await navigation(page, () =>
    page.click('form[action="/logout"] button[type="submit"]'),
  );
  assert.equal(response.status(), 200);
  await expectLoggedOut(page);
  return response;
}

/** The page is the signed-in status page of admin. */
export async function expectLoggedIn(page) {
  const text = await page.locator('body').innerText();
  assert.match(text, /Signed in as\s+admin/, `not signed in:\n${text}`);
  assert.equal(await page.locator('form[action="/logout"]').count(), 1);
  assert.equal(await page.locator('form[action="/login"]').count(), 0);
}

/** The page is the login form, with nothing of the signed-in page. */
export async function expectLoggedOut(page) {
  const text = await page.locator('body').innerText();
  assert.doesNotMatch(text, /Signed in as/, `private content shown:\n${text}`);
  assert.equal(await page.locator('form[action="/login"]').count(), 1, `no login form:\n${text}`);
  assert.equal(await page.locator('form[action="/logout"]').count(), 0);
}

/** The browser's session cookie for `base`, if any. */
export async function sessionCookie(context, base) {
  const cookies = await context.cookies(base);
  return cookies.find((c) => c.name === 'sid');
}

/**
 * The pre-session cookie (`sid-pre`) the browser holds for `base`: what a
 * login form's CSRF token is bound to while nothing is stored.
 */
export async function preSessionCookie(context, base) {
  const cookies = await context.cookies(base);
  return cookies.find((c) => c.name === 'sid-pre');
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
