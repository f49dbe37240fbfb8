// What every browser test does around its case: a server of the target in a
// fresh directory, and a browser context of its own.

import { newContext } from './browser.js';
import { removeDir, tempDir } from './servers.js';

/** Starts `target` in a fresh directory, runs `fn(server, dir)`, stops it. */
export async function withServer(target, options, fn) {
  const dir = tempDir(target.name);
  let server = await target.start({ dir, ...options });
  const handle = {
    get server() {
      return server;
    },
    /** Stops the server and starts it again on the same port and directory. */
    async restart() {
      const port = server.port;
      await server.stop();
      server = await target.start({ dir, ...options, port });
      return server;
    },
  };
  try {
    await fn(handle, dir);
  } finally {
    await server.stop();
    removeDir(dir);
  }
}

/** Runs `fn(context, page)` in a new browser context, closed after. */
export async function inContext(browser, fn) {
  const context = await newContext(browser);
  try {
    await fn(context, await context.newPage());
  } finally {
    await context.close();
  }
}
