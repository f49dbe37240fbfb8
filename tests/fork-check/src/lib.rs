//! Checks that need `unsafe`, kept out of the published crates: the
//! workspace forbids `unsafe_code`, and fork(2) has no safe binding. So this
//! crate (never published) holds them, and allows `unsafe` only where it
//! forks.

#[cfg(all(test, unix))]
mod tests {
    use std::io::{Read, Write};

    use sesh_tokio::{OsRandom, RandomSource};

    /// A session id's worth of bytes.
    const DRAW: usize = 16;
    /// Draws on each side of a fork: 1 KiB, so both sides read new blocks
    /// (512 bytes each) as well as use the one they share at the fork.
    const DRAWS: usize = 64;

    fn draw() -> [u8; DRAW] {
        let mut bytes = [0u8; DRAW];
        assert!(OsRandom.fill(&mut bytes).is_ok(), "OsRandom failed");
        bytes
    }

    /// A child forked without exec must hand out none of the bytes its
    /// parent hands out, although it starts with a copy of the parent's
    /// half-used block. Forked three times over, from a block used to a
    /// different point each time.
    #[test]
    #[allow(unsafe_code, clippy::indexing_slicing, clippy::unwrap_used)]
    fn a_forked_child_never_repeats_its_parents_bytes() {
        let mut parent = Vec::new();
        let mut children = Vec::new();
        for round in 1..=3usize {
            // The parent's block is partly used: the child inherits the rest.
            for _ in 0..round {
                parent.push(draw());
            }
            let (mut reader, mut writer) = std::io::pipe().unwrap();
            // SAFETY: the child only draws into stack buffers, writes them to
            // the pipe and leaves with `_exit`: it allocates nothing and runs
            // no destructors or handlers inherited from the parent's threads.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let mut out = [[0u8; DRAW]; DRAWS];
                let mut ok = true;
                for slot in &mut out {
                    ok &= OsRandom.fill(slot).is_ok();
                }
                ok &= writer.write_all(out.as_flattened()).is_ok();
                // SAFETY: ends the child at once, as fork(2) requires of a
                // child of a threaded process.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            drop(writer);
            for _ in 0..DRAWS {
                parent.push(draw());
            }
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).unwrap();
            let mut status = 0;
            // SAFETY: waits for the child just forked; `status` is ours.
            let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
            assert_eq!(waited, pid, "waitpid failed");
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "the child failed to draw"
            );
            assert_eq!(bytes.len(), DRAW * DRAWS, "round {round}");
            children.extend(
                bytes
                    .chunks_exact(DRAW)
                    .map(|c| <[u8; DRAW]>::try_from(c).unwrap()),
            );
        }
        let parents: std::collections::HashSet<_> = parent.iter().collect();
        assert_eq!(parents.len(), parent.len(), "the parent repeated a draw");
        for (i, child) in children.iter().enumerate() {
            assert!(
                !parents.contains(child),
                "draw {i} of a child repeats one of its parent's"
            );
            assert!(child.iter().any(|&b| b != 0), "an all-zero draw");
        }
        let unique: std::collections::HashSet<_> = children.iter().collect();
        assert_eq!(unique.len(), children.len(), "two children repeated a draw");
    }
}
