//! Puts `memory.x` on the linker search path, for bare-metal targets only.
//!
//! `cargo:rustc-link-search` from a library's build script reaches the link
//! of every binary that depends on the library, so another image linking
//! this crate (a test probe, say) gets the same memory map without a copy
//! of `memory.x`. It still needs cortex-m-rt's `-Tlink.x`, which the
//! repository's `.cargo/config.toml` adds for `thumbv7em-none-eabihf`.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return Ok(());
    }
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let mut memory = fs::read_to_string("memory.x")?;
    // Feature `large-stack`: 512 KiB of stack instead of 128 KiB, for an
    // image that builds large values at run time (the HTTP suite's probe
    // image builds a 64 KiB session table from its settings).
    if env::var_os("CARGO_FEATURE_LARGE_STACK").is_some() {
        memory = memory.replace("LENGTH = 128K", "LENGTH = 512K").replace(
            "ORIGIN = 0x20020000, LENGTH = 4M - 128K",
            "ORIGIN = 0x20080000, LENGTH = 4M - 512K",
        );
    }
    fs::write(out.join("memory.x"), memory)?;
    println!("cargo:rustc-link-search={}", out.display());
    Ok(())
}
