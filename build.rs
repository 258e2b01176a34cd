//! Build script: fingerprints the detection engine's source so that the policy hash (`policy::builtin_identity`)
//! changes whenever the rules compiled into the binary do, word lists and checks in code included, not only when the
//! crate version or a builtin pattern changes.
//!
//! Must never: read anything outside `src/detect`, or make the fingerprint depend on the machine (paths are relative
//! and sorted, file contents are hashed as bytes).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            sources(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let root = Path::new("src/detect");
    println!("cargo:rerun-if-changed={}", root.display());
    // Not `HAETAE_*`: cargo also sets this variable for the processes of `cargo run` and `cargo test`, and the
    // gateway refuses `HAETAE_*` variables it does not know.
    println!(
        "cargo:rustc-env=BUILD_DETECT_SOURCE_SHA256={}",
        fingerprint(root)?
    );
    Ok(())
}

/// Hex SHA-256 over every `.rs` file under `root`: relative path, length and bytes, in path order. Also compiled into
/// the policy module's tests, which check it against the value built into the crate.
pub fn fingerprint(root: &Path) -> std::io::Result<String> {
    let mut files = Vec::new();
    sources(root, &mut files)?;
    files.sort();
    let mut h = Sha256::new();
    for f in &files {
        let bytes = std::fs::read(f)?;
        let name = f
            .strip_prefix(root)
            .unwrap_or(f)
            .to_string_lossy()
            .replace('\\', "/");
        h.update(name.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
