//! Picks the memory layout of the emulated board for the target being built.

use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    let memory = if target.starts_with("thumbv6m") {
        // BBC micro:bit (nRF51822): 256 KiB flash, 16 KiB RAM.
        "MEMORY { FLASH : ORIGIN = 0x00000000, LENGTH = 256K\n RAM : ORIGIN = 0x20000000, LENGTH = 16K }\n"
    } else {
        // MPS2 AN386 (Cortex-M4): 4 MiB code SRAM, 4 MiB data SRAM.
        "MEMORY { FLASH : ORIGIN = 0x00000000, LENGTH = 4M\n RAM : ORIGIN = 0x20000000, LENGTH = 4M }\n"
    };
    let out = PathBuf::from(env::var("OUT_DIR").unwrap_or_else(|_| ".".into()));
    fs::write(out.join("memory.x"), memory).unwrap_or_else(|e| panic!("writing memory.x: {e}"));
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=build.rs");
}
