//! What every firmware HTTP test does: boot the table as a board does, and
//! serve it on a real embassy-net stack pair to a test client.
#![allow(dead_code, clippy::unwrap_used)]

use core::future::Future;

use embassy_net::Stack;
use firmware::{AppSessions, PORT};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sesh::signing::{Key, KeyRing};
use sesh_tests::http::client::Response;
use sesh_tests::http::embassy_client::{Client, Pair, SERVER};
use static_cell::StaticCell;

pub type TestRng = ChaCha20Rng;

/// The table, built as a board builds it: with its RNG and keys, in a
/// `StaticCell`.
pub fn boot(
    cell: &'static StaticCell<AppSessions<TestRng>>,
    seed: u8,
) -> &'static AppSessions<TestRng> {
    let keys = KeyRing::new(Key::new(&[seed; 32]).unwrap());
    cell.init(firmware::new_sessions(ChaCha20Rng::from_seed([seed; 32]), keys).unwrap())
}

/// Runs `scenario` against `server` (given the server's stack) on a fresh
/// pair of stacks.
pub fn run_with<S, F>(
    server: impl FnOnce(Stack<'static>) -> S + Send,
    scenario: impl FnOnce(Client<'static>) -> F + Send,
) where
    S: Future,
    F: Future<Output = ()>,
{
    on_big_stack(move || {
        let pair = Pair::new();
        let server = server(pair.server);
        let client = Client::new(pair.client, SERVER, PORT);
        pair.run(server, scenario(client));
    });
}

/// Runs `scenario` against the firmware's own two web workers and sweeper.
pub fn run<F: Future<Output = ()>>(
    sessions: &'static AppSessions<TestRng>,
    scenario: impl FnOnce(Client<'static>) -> F + Send,
) {
    run_with(move |stack| workers(stack, sessions), scenario);
}

/// Runs `body` on a thread with a 16 MiB stack: a debug build keeps whole
/// handler futures in each poll frame, past a test thread's 2 MiB.
pub fn on_big_stack(body: impl FnOnce() + Send) {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .stack_size(16 << 20)
            .spawn_scoped(scope, body)
            .unwrap();
        if let Err(panic) = thread.join() {
            std::panic::resume_unwind(panic);
        }
    });
}

async fn workers(stack: Stack<'static>, sessions: &'static AppSessions<TestRng>) {
    embassy_futures::join::join3(
        firmware::serve(0, stack, sessions),
        firmware::serve(1, stack, sessions),
        sesh_embassy::run_sweeper(sessions),
    )
    .await;
}

/// The page's CSRF token.
pub fn csrf(page: &Response) -> String {
    page.input_value("csrf").expect("a CSRF field")
}
