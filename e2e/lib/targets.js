// The two login UIs under test and what differs between them.
//
// - `login`: examples/login (axum + sesh-tokio), sessions in a redb file.
// - `firmware`: examples/firmware's app (picoserve + sesh-embassy) served on
//   the host by its `firmware-host` binary (feature `host-server`), sessions
//   in the firmware's RAM table only.
// - `qemu`: the same app as a real microcontroller image
//   (examples/boards/mps2-an386) in QEMU, started by scripts/qemu-firmware.sh;
//   sessions in the image's flash (a host file), so they survive a restart.
//
// Both serve `GET /` (login form or status page), `POST /login`, `GET /me`
// and `POST /logout`, with the demo account admin / admin.

import path from 'node:path';

import { REPO, Server, binary, freePort, helpText } from './servers.js';

/** A signing secret for the tests (at least 32 bytes). */
export const SECRET = 'e2e-test-secret-0123456789abcdef-0123456789';

/** The idle timeout the idle-expiry cases configure, in seconds. */
export const SHORT_IDLE_SECS = 2;

/**
 * The login example's idle-timeout flag, if its --help lists one, and how to
 * write a number of seconds for it.
 */
function loginIdleFlag() {
  const help = helpText('login');
  const m = /(--idle(?:-timeout)?)[ =]<([^>]+)>/.exec(help);
  if (!m) {
    return null;
  }
  const unit = m[2].toLowerCase();
  const bare = unit.startsWith('sec') || unit === 's';
  return { flag: m[1], value: (secs) => (bare ? String(secs) : `${secs}s`) };
}

const LOGIN_IDLE = loginIdleFlag();

/** The firmware's visit counter (0 for an anonymous visitor: nothing is stored for one). */
const firmwareVisits = (page) => capture(page, /<p class="count">(\d+)<\/p>/, 'visit counter');

/** Sessions in a firmware's table, from its test-only stats port. */
async function firmwareSessions(server) {
  const res = await fetch(`${server.urls.stats}/`);
  const { sessions } = await res.json();
  return sessions;
}

/** The first integer that `re` captures in the page's HTML. */
async function capture(page, re, what) {
  const html = await page.content();
  const m = re.exec(html);
  if (!m) {
    throw new Error(`no ${what} on the page:\n${html}`);
  }
  return Number(m[1]);
}

export const TARGETS = [
  {
    name: 'login',
    title: 'examples/login (axum, redb)',
    sameSite: 'Lax',
    /** A logout form without a `csrf` field: the field reads as empty, the CSRF check fails. */
    noTokenStatus: 403,
    /** Sessions survive a restart (redb file, same secret). */
    persistent: true,
    keptIn: 'same redb file, same secret',
    /** Seconds of the default idle timeout (sesh-tokio's default). */
    defaultIdleSecs: 30 * 60,
    /** Whether an idle timeout can be set on the command line. */
    idleFlag: LOGIN_IDLE,
    /**
     * Starts the server. `dir` holds the redb file (kept across a restart);
     * `port` 0 takes any free port.
     */
    start({ dir, port = 0, idleSecs }) {
      const args = [
        '--addr',
        `127.0.0.1:${port}`,
        '--store',
        `redb:${path.join(dir, 'sessions.redb')}`,
        '--insecure-cookies',
      ];
      if (idleSecs !== undefined) {
        if (!LOGIN_IDLE) {
          throw new Error('login has no idle-timeout flag');
        }
        args.push(LOGIN_IDLE.flag, LOGIN_IDLE.value(idleSecs));
      }
      return Server.start('login', binary('login'), args, { SESH_SECRET: SECRET });
    },
    /** The page-view counter of the status page. */
    visits: (page) => capture(page, /Page views<\/dt><dd>(\d+) in this session/, 'page-view counter'),
    /**
     * Sessions in the store. The login UI shows them on the status page, so
     * `page` must be signed in.
     */
    sessionsInUse: (_server, page) =>
      capture(page, /<dd>(\d+)(?: of \d+)? sessions? in use<\/dd>/, 'session count'),
  },
  {
    name: 'firmware',
    title: 'examples/firmware on the host (picoserve, RAM table)',
    sameSite: 'Strict',
    /**
     * A logout form without a `csrf` field: picoserve's `Form` extractor
     * rejects it (400) before the handler and its CSRF check run.
     */
    noTokenStatus: 400,
    /** Sessions live in RAM only on the host (flash on the board). */
    persistent: false,
    defaultIdleSecs: 10 * 60,
    idleFlag: { flag: '--idle-timeout', value: String },
    start({ port = 0, idleSecs }) {
      const args = ['--addr', `127.0.0.1:${port}`, '--stats-addr', '127.0.0.1:0'];
      if (idleSecs !== undefined) {
        args.push('--idle-timeout', String(idleSecs));
      }
      return Server.start('firmware-host', binary('firmware-host'), args, { SESH_SECRET: SECRET });
    },
    /** The visit counter (shown signed in or not). */
    visits: firmwareVisits,
    /**
     * Sessions in the table, from firmware-host's `--stats-addr` side port
     * (the firmware's page does not show them).
     */
    sessionsInUse: firmwareSessions,
  },
  {
    name: 'qemu',
    title: 'the firmware image in QEMU (mps2-an386: Cortex-M4F, LAN9118, flash file)',
    sameSite: 'Strict',
    noTokenStatus: 400,
    /** Sessions live in the image's flash: a host file in `dir`. */
    persistent: true,
    keptIn: 'same flash file',
    /**
     * The firmware writes a login or logout to flash at once, other changes
     * (the visit counter) after 5 s, so a restart waits that long first.
     */
    settleBeforeRestartMs: 7_000,
    defaultIdleSecs: 10 * 60,
    idleFlag: { flag: '--idle-timeout', value: String },
    async start({ dir, port = 0, idleSecs }) {
      const httpPort = port === 0 ? await freePort() : port;
      const knobs = ['--stats-port', String(await freePort())];
      if (idleSecs !== undefined) {
        knobs.push('--idle-timeout', String(idleSecs));
      }
      const args = [
        path.join(REPO, 'scripts', 'qemu-firmware.sh'),
        '--no-build',
        '--port',
        String(httpPort),
        '--flash',
        path.join(dir, 'flash.bin'),
        '--',
        ...knobs,
      ];
      return Server.start('qemu-firmware', 'bash', args);
    },
    visits: firmwareVisits,
    /** Sessions in the image's table, from its test-only `--stats-port`. */
    sessionsInUse: firmwareSessions,
  },
];
