//! The pinned Python tools some tests drive (schemathesis, openapi-spec-validator,
//! openapi-python-client, PortOne's iamport-rest-client), from one venv that
//! `scripts/python-venv.sh` creates on first use, so that `cargo test --workspace` needs no step
//! before it. `.ci/run` creates it up front all the same, outside the tests' time.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The venv's directory: `PAYBRIDGE_PYTHON_VENV` when set (used as it is), else
/// `<target>/python-venv`, created or refreshed by the script (which takes a lock, and returns at
/// once when the venv holds the pinned versions already).
pub fn venv() -> PathBuf {
    if let Ok(dir) = std::env::var("PAYBRIDGE_PYTHON_VENV") {
        return PathBuf::from(dir);
    }
    // `<target>/debug/deps/<test binary>`, whatever CARGO_TARGET_DIR is.
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the test binary lives in <target>/debug/deps")
        .to_path_buf();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/python-venv.sh");
    let output = Command::new("bash")
        .arg(&script)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{} could not create the venv in {}: {}\n{}",
        script.display(),
        target.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    target.join("python-venv")
}

/// `<venv>/bin/<name>`, which must exist.
pub fn tool(venv: &Path, name: &str) -> PathBuf {
    let path = venv.join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: the venv lacks a pinned tool (scripts/python-venv.sh lists them)",
        path.display()
    );
    path
}
