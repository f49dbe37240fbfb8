// The sessions page ("sign out everywhere") and remember me in a real browser,
// against every target: two browser contexts are two devices of one user.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  expectLoggedIn,
  expectLoggedOut,
  launch,
  logIn,
  navigation,
  screenshot,
  sessionCookie,
  submitLogin,
} from '../lib/browser.js';
import { inContext, withServer } from '../lib/harness.js';
import { TARGETS } from '../lib/targets.js';

const CASE = { timeout: 60_000 };
const THIS_DEVICE = '(this device)';

/** Opens the sessions page from the status page's link; returns its sessions. */
async function openSessions(page) {
  const response = await navigation(page, () => page.click('a[href="/sessions"]'));
  assert.equal(response.status(), 200);
  return page.locator('li');
}

/** The revoke button of the one listed session that is not this device. */
function otherDevicesButton(page) {
  return page
    .locator('li', { hasNot: page.getByText(THIS_DEVICE) })
    .locator('form[action="/sessions/revoke"] button[type="submit"]');
}

for (const target of TARGETS) {
  describe(`${target.name}: the sessions page`, () => {
    let browser;

    before(async () => {
      browser = await launch();
    });

    after(async () => {
      await browser?.close();
    });

    it('a device revokes the other one: the other is signed out at its next request', CASE, async () => {
      await withServer(target, {}, async ({ server }) => {
        await inContext(browser, async (_contextA, pageA) => {
          await inContext(browser, async (_contextB, pageB) => {
            await logIn(pageA, server.url);
            await logIn(pageB, server.url);

            const listed = await openSessions(pageA);
            assert.equal(await listed.count(), 2, 'both devices are listed');
            assert.equal(await pageA.getByText(THIS_DEVICE).count(), 1, 'one is this device');
            await screenshot(pageA, `${target.name}-sessions.png`);

            const revoked = await navigation(pageA, () => otherDevicesButton(pageA).click());
            assert.equal(revoked.status(), 200);
            assert.equal(revoked.request().redirectedFrom()?.method(), 'POST', 'a 303 back to the page');
            assert.equal(await pageA.locator('li').count(), 1, 'only this device is left');
            assert.equal(await pageA.getByText(THIS_DEVICE).count(), 1);

            await pageB.reload();
            await expectLoggedOut(pageB);
            await pageA.goto(`${server.url}/`);
            await expectLoggedIn(pageA);
          });
        });
      });
    });

    it('"Sign out everywhere else" keeps this device only', CASE, async () => {
      await withServer(target, {}, async ({ server }) => {
        await inContext(browser, async (_a, pageA) => {
          await inContext(browser, async (_b, pageB) => {
            await inContext(browser, async (_c, pageC) => {
              for (const page of [pageA, pageB, pageC]) {
                await logIn(page, server.url);
              }
              assert.equal(await (await openSessions(pageB)).count(), 3);
              const response = await navigation(pageB, () =>
                pageB.click('form[action="/sessions/revoke-others"] button[type="submit"]'),
              );
              assert.equal(response.status(), 200);
              assert.equal(await pageB.locator('li').count(), 1);
              for (const page of [pageA, pageC]) {
                await page.reload();
                await expectLoggedOut(page);
              }
              await pageB.goto(`${server.url}/`);
              await expectLoggedIn(pageB);
            });
          });
        });
      });
    });

    it('remember me keeps a dated cookie; without it the cookie ends with the browser', CASE, async () => {
      await withServer(target, {}, async ({ server }) => {
        for (const remember of [true, false]) {
          await inContext(browser, async (context, page) => {
            await page.goto(`${server.url}/`);
            if (remember) {
              await page.check('input[name="remember"]');
            }
            const response = await submitLogin(page, 'admin', 'admin');
            assert.equal(response.status(), 200);
            await expectLoggedIn(page);
            const cookie = await sessionCookie(context, server.url);
            assert.ok(cookie, 'a session cookie');
            if (remember) {
              const days = (cookie.expires - Date.now() / 1000) / 86_400;
              assert.ok(days > 29 && days <= 30, `remembered for ${days} days`);
            } else {
              assert.equal(cookie.expires, -1, 'a browser-session cookie has no expiry');
            }
          });
        }
      });
    });
  });
}
