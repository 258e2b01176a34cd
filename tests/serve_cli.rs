//! `haetae serve` through the real binary: configuration refusals happen before anything is bound or written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

/// Run `haetae` in `cwd` with exactly the given environment (nothing inherited, so no stray `HAETAE_*`).
fn haetae(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_haetae"))
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn public_listener_without_tenants_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = haetae(
        dir.path(),
        &["serve", "--check"],
        &[("HAETAE_SERVER__LISTEN", "0.0.0.0:0")],
    );
    assert!(!out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("server.listen[0]"), "{err}");
    assert!(err.contains("server.allow_unauthenticated"), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a refused configuration writes nothing"
    );
}
