// The login web UIs in a real browser: Debian's Chromium, headless, driven by
// playwright-core, against the host `login` example, the host-run firmware
// UI (`firmware-host`) and the firmware image in QEMU. Every case runs against
// all three; where a case cannot
// apply as such to one of them, its name says so and it asserts what does
// apply.
//
// Run: scripts/e2e.sh (builds the binaries, installs what is missing), or
// `cargo build -p login -p firmware --features firmware/host-server` and then
// `npm test` here.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  expectLoggedIn,
  expectLoggedOut,
  launch,
  logIn,
  logOut,
  screenshot,
  preSessionCookie,
  sessionCookie,
  sleep,
  submitLogin,
} from '../lib/browser.js';
import { inContext, withServer } from '../lib/harness.js';
import { pageServer } from '../lib/servers.js';
import { SHORT_IDLE_SECS, TARGETS } from '../lib/targets.js';

const CASE = { timeout: 60_000 };

/** A page on another origin that posts `fields` to `action` as it loads. */
function autoSubmit(action, fields) {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`)
    .join('');
  return `<!doctype html><title>Win a prize</title>
<form method="post" action="${action}">${inputs}</form>
<script>document.forms[0].submit()</script>`;
}

for (const target of TARGETS) {
  describe(`${target.name}: ${target.title}`, () => {
    let browser;

    before(async () => {
      browser = await launch();
    });

    after(async () => {
      await browser?.close();
    });

    it('log in: a reload stays logged in and the counter increments per reload', CASE, async () => {
      await withServer(target, {}, async ({ server }) => {
        await inContext(browser, async (_context, page) => {
          await page.goto(`${server.url}/`);
          await expectLoggedOut(page);
          await screenshot(page, `${target.name}-signed-out.png`);
          await logIn(page, server.url);
          assert.equal(await target.visits(page), 1);
          await screenshot(page, `${target.name}-signed-in.png`);
          for (const expected of [2, 3, 4]) {
            const response = await page.reload();
            assert.equal(response.status(), 200);
            await expectLoggedIn(page);
            assert.equal(await target.visits(page), expected);
          }
          const me = await page.goto(`${server.url}/me`);
          assert.equal(me.status(), 200);
          assert.equal((await me.text()).trim(), 'admin');
        });
      });
    });

    it('the session cookie is HttpOnly: invisible to document.cookie, held by the browser', CASE, async () => {
      await withServer(target, {}, async ({ server }) => {
        await inContext(browser, async (context, page) => {
          await logIn(page, server.url);
          const held = await sessionCookie(context, server.url);
          assert.ok(held, 'the browser holds a session cookie');
          assert.equal(held.httpOnly, true);
          assert.equal(held.secure, false, 'plain http on loopback: Secure off');
          assert.equal(held.sameSite, target.sameSite);
          assert.equal(held.path, '/');
          assert.equal(held.domain, '127.0.0.1', 'a host-only cookie');
          const visible = await page.evaluate(() => document.cookie);
          assert.doesNotMatch(visible, /(^|;\s*)sid=/, `document.cookie shows it: ${visible}`);
          // Script can neither read nor overwrite it.
          await page.evaluate(() => {
            document.cookie = 'sid=forged-by-script; path=/';
          });
          const after = await sessionCookie(context, server.url);
          assert.equal(after.value, held.value, 'script replaced the HttpOnly cookie');
          await page.reload();
          await expectLoggedIn(page);
        });
      });
    });

    it('log out: back navigation does not show private content (Cache-Control: no-store)', CASE, async () => {
      await withServer(target, {}, async ({ server }) => {
        await inContext(browser, async (context, page) => {
          const signedIn = await logIn(page, server.url);
          assert.match(signedIn.headers()['cache-control'] ?? '', /no-store/);
          const before = await sessionCookie(context, server.url);
          await logOut(page);
          const afterLogout = await sessionCookie(context, server.url);
          assert.notEqual(afterLogout?.value, before.value, 'the old session id is gone');

          // The previous history entry is the signed-in page. With no-store
          // the browser may not show a stored copy: it asks the server again,
          // which sees a signed-out browser.
          const back = await page.goBack({ waitUntil: 'load' });
          assert.ok(back, 'going back loaded the page from the server (not from a cache)');
          assert.equal(back.status(), 200);
          assert.equal(back.request().method(), 'GET');
          await expectLoggedOut(page);
          const restored = await page.evaluate(
            () => performance.getEntriesByType('navigation')[0]?.type,
          );
          assert.equal(restored, 'back_forward');

          const forward = await page.goForward({ waitUntil: 'load' });
          if (forward) {
            await expectLoggedOut(page);
          }
          const me = await page.goto(`${server.url}/me`);
          assert.equal(me.status(), 401);
        });
      });
    });

    it('two browser contexts are two independent sessions', CASE, async () => {
      await withServer(target, {}, async ({ server }) => {
        await inContext(browser, async (contextA, pageA) => {
          await inContext(browser, async (contextB, pageB) => {
            await logIn(pageA, server.url);
            assert.equal(await target.visits(pageA), 1);

            await pageB.goto(`${server.url}/`);
            await expectLoggedOut(pageB);
            const a = await sessionCookie(contextA, server.url);
            assert.ok(a);
            // B's login form stores nothing: B has a pre-session cookie only.
            assert.equal(await sessionCookie(contextB, server.url), undefined);
            assert.ok(await preSessionCookie(contextB, server.url));

            await logIn(pageB, server.url);
            const b = await sessionCookie(contextB, server.url);
            assert.ok(b);
            assert.notEqual(a.value, b.value);
            assert.equal(await target.visits(pageB), 1);
            await pageA.reload();
            await pageA.reload();
            assert.equal(await target.visits(pageA), 3);
            await pageB.reload();
            assert.equal(await target.visits(pageB), 2);

            await logOut(pageA);
            await pageB.reload();
            await expectLoggedIn(pageB);
            assert.equal(await target.visits(pageB), 3);
          });
        });
      });
    });

    const restartName = target.persistent
      ? `a restart of the server (${target.keptIn}) keeps the user logged in`
      : 'a restart of the server signs the user out (RAM-only table on the host: restart ' +
        'persistence is the login example on redb, and flash on the board)';
    it(restartName, CASE, async () => {
      await withServer(target, {}, async (handle) => {
        await inContext(browser, async (context, page) => {
          const base = handle.server.url;
          await logIn(page, base);
          await page.reload();
          assert.equal(await target.visits(page), 2);
          const held = await sessionCookie(context, base);
          if (target.settleBeforeRestartMs) {
            await sleep(target.settleBeforeRestartMs);
          }

          const restarted = await handle.restart();
          assert.equal(restarted.url, base, 'same address after the restart');
          const response = await page.reload();
          assert.equal(response.status(), 200);
          if (target.persistent) {
            await expectLoggedIn(page);
            assert.equal(await target.visits(page), 3, 'the session data survived');
            assert.equal((await sessionCookie(context, base)).value, held.value);
          } else {
            await expectLoggedOut(page);
            // The server works on: a new login succeeds.
            await logIn(page, base);
            assert.equal(await target.visits(page), 1);
          }
        });
      });
    });

    const idleName = target.idleFlag
      ? `after the idle timeout (${SHORT_IDLE_SECS} s here) the page shows the login form`
      : 'idle timeout: login has no idle-timeout flag yet, so this checks the ' +
        `${target.defaultIdleSecs / 60}-minute idle expiry it shows and sets`;
    it(idleName, CASE, async () => {
      if (!target.idleFlag) {
        await withServer(target, {}, async ({ server }) => {
          await inContext(browser, async (context, page) => {
            await logIn(page, server.url);
            const minutes = target.defaultIdleSecs / 60;
            assert.match(
              await page.locator('body').innerText(),
              new RegExp(`Session expires\\s+.*\\(in ${minutes} minutes\\)`),
            );
            const held = await sessionCookie(context, server.url);
            const left = held.expires - Date.now() / 1000;
            assert.ok(
              left > target.defaultIdleSecs - 60 && left <= target.defaultIdleSecs + 1,
              `the cookie expires in ${left} s`,
            );
          });
        });
        return;
      }
      await withServer(target, { idleSecs: SHORT_IDLE_SECS }, async ({ server }) => {
        await inContext(browser, async (context, page) => {
          await logIn(page, server.url);
          const held = await sessionCookie(context, server.url);
          // Within the timeout: still signed in.
          await sleep((SHORT_IDLE_SECS * 1000) / 2);
          await page.reload();
          await expectLoggedIn(page);

          await sleep(SHORT_IDLE_SECS * 1000 + 1500);
          await page.reload();
          await expectLoggedOut(page);

          // Not only the browser dropping an expired cookie: the server
          // refuses the old session id too.
          await context.clearCookies();
          await context.addCookies([
            { name: 'sid', value: held.value, url: server.url, httpOnly: true, sameSite: held.sameSite },
          ]);
          await page.reload();
          await expectLoggedOut(page);
          const me = await page.goto(`${server.url}/me`);
          assert.equal(me.status(), 401);
        });
      });
    });

    it(
      'a form posted from another origin is refused (403 by the CSRF check' +
        (target.noTokenStatus === 403 ? '' : `; ${target.noTokenStatus} without a csrf field`) +
        `) and changes nothing (SameSite=${target.sameSite}: no cookie on a cross-site POST)`,
      CASE,
      async () => {
        await withServer(target, {}, async ({ server }) => {
          await inContext(browser, async (context, page) => {
            await logIn(page, server.url);
            const held = await sessionCookie(context, server.url);
            let visits = await target.visits(page);
            const inUse = await target.sessionsInUse(server, page);

            const pages = {
              logout: autoSubmit(`${server.url}/logout`, { csrf: 'forged' }),
              'logout-no-token': autoSubmit(`${server.url}/logout`, {}),
              login: autoSubmit(`${server.url}/login`, {
                username: 'admin',
                password: 'admin',
                csrf: 'forged',
              }),
            };
            // 127.0.0.1 on another port: another origin but the same site
            // (SameSite ignores ports), so the cookie goes along and only the
            // CSRF token refuses the form. 127.0.0.2: another site, so the
            // browser does not even send the cookie.
            for (const [host, sameSite] of [
              ['127.0.0.1', true],
              ['127.0.0.2', false],
            ]) {
              const attacker = await pageServer(host, pages);
              try {
                assert.notEqual(new URL(attacker.url).origin, new URL(server.url).origin);
                for (const [name, body] of Object.entries(pages)) {
                  const path = name.startsWith('login') ? '/login' : '/logout';
                  const posted = page.waitForResponse(
                    (r) => r.url() === `${server.url}${path}` && r.request().method() === 'POST',
                  );
                  await page.goto(`${attacker.url}/${name}`);
                  const response = await posted;
                  const refused = name === 'logout-no-token' ? target.noTokenStatus : 403;
                  assert.equal(response.status(), refused, `${host} ${name}: ${body}`);
                  const headers = await response.request().allHeaders();
                  const sentCookie = /(^|;\s*)sid=/.test(headers.cookie ?? '');
                  assert.equal(
                    sentCookie,
                    sameSite,
                    `${host} ${name}: the cookie was ${sentCookie ? '' : 'not '}sent`,
                  );
                  await page.waitForLoadState('load');
                  assert.doesNotMatch(await page.locator('body').innerText(), /Signed in as/);
                }
              } finally {
                await attacker.close();
              }
              // Nothing changed: same session, still signed in, one more visit.
              await page.goto(`${server.url}/`);
              await expectLoggedIn(page);
              visits += 1;
              assert.equal(await target.visits(page), visits);
              assert.equal((await sessionCookie(context, server.url)).value, held.value);
              assert.equal(await target.sessionsInUse(server, page), inUse);
            }
          });
        });
      },
    );

    it('wrong credentials show an error and store nothing: zero sessions stored, the same pre-session cookie', CASE, async () => {
      await withServer(target, {}, async ({ server }) => {
        await inContext(browser, async (context, page) => {
          await page.goto(`${server.url}/`);
          await expectLoggedOut(page);
          // The form's CSRF token is bound to a pre-session cookie: no session.
          const pre = await preSessionCookie(context, server.url);
          assert.ok(pre, 'the form sets a pre-session cookie');
          assert.equal(pre.httpOnly, true);
          assert.equal(await sessionCookie(context, server.url), undefined, 'no session cookie');
          // Counted while signed out on the host firmware's stats port (the
          // login example shows its count only when signed in).
          const countsAnonymous = target.name === 'firmware';
          if (countsAnonymous) {
            assert.equal(await target.sessionsInUse(server, page), 0, 'the form stores nothing');
          }

          for (const [user, password] of [
            ['admin', 'wrong'],
            ['root', 'admin'],
          ]) {
            const response = await submitLogin(page, user, password);
            assert.equal(response.status(), 401);
            await expectLoggedOut(page);
            assert.equal(
              (await page.locator('.error[role="alert"]').innerText()).trim(),
              'Wrong user name or password.',
            );
            assert.equal((await preSessionCookie(context, server.url))?.value, pre.value, 'the same pre-session');
            assert.equal(await sessionCookie(context, server.url), undefined, 'still no session');
            if (countsAnonymous) {
              assert.equal(await target.sessionsInUse(server, page), 0, 'nothing stored');
            }
          }
          const me = await page.goto(`${server.url}/me`);
          assert.equal(me.status(), 401);

          // The right password now: the one session in the store.
          await logIn(page, server.url);
          assert.equal(await target.sessionsInUse(server, page), 1);
          assert.ok(await sessionCookie(context, server.url), 'signed in: a session cookie');
        });
      });
    });
  });
}
