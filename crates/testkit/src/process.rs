//! The services as real processes: what a test needs to send them signals, restart them and run
//! several replicas of each, as Kubernetes or compose would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now, and never handed out before by this test process: a
/// service started on a port binds it only after its migrations, and meanwhile the kernel may
/// offer the same free port again (a gateway's port in scale_out.rs was seen answered by another
/// service of the same test).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The path of a workspace binary built beside this test. Cargo gives a test
/// `CARGO_BIN_EXE_<name>` only for its own package's binaries; the others' sit next to the test
/// executable's folder (`target/<profile>/deps/..`), where `cargo test --workspace` (and
/// `cargo build --workspace`) put them.
pub fn sibling_binary(name: &str) -> PathBuf {
    let test_exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first (`cargo build -p {name}`, or run the tests with \
         `cargo test --workspace`, which builds every binary)",
        path.display()
    );
    path
}

/// One service process, started with settings given as `(dotted.key, value)` pairs (turned into
/// `PAYBRIDGE__SECTION__KEY` variables, with no config files read), as [`platform`'s]
/// `Settings::for_tests` takes them. Killed when dropped.
pub struct ServiceProcess {
    pub name: String,
    pub port: u16,
    binary: PathBuf,
    settings: Vec<(String, String)>,
    child: Option<Child>,
}

impl ServiceProcess {
    /// Starts `binary` listening on `port` (already set in `settings` or added here).
    pub fn start(binary: PathBuf, port: u16, settings: &[(&str, &str)]) -> ServiceProcess {
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut all: Vec<(String, String)> = vec![
            ("http.host".into(), "127.0.0.1".into()),
            ("http.port".into(), port.to_string()),
        ];
        all.extend(
            settings
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let mut process = ServiceProcess {
            name,
            port,
            binary,
            settings: all,
            child: None,
        };
        process.spawn();
        process
    }

    fn command(&self) -> Command {
        command(&self.binary, &self.settings)
    }

    fn spawn(&mut self) {
        let logs = || {
            if std::env::var("TEST_LOG").is_ok() {
                Stdio::inherit()
            } else {
                Stdio::null()
            }
        };
        let child = self
            .command()
            .stdout(logs())
            .stderr(logs())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.name));
        self.child = Some(child);
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Runs `<binary> <args>` with the same settings and returns its status and output (stdout
    /// then stderr), e.g. `healthcheck`.
    pub fn run_command(&self, args: &[&str]) -> (ExitStatus, String) {
        let out = self
            .command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {} {args:?}: {e}", self.name));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status, text)
    }

    /// Sends SIGTERM, as Kubernetes does to a pod it stops.
    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Sends SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        self.signal(libc::SIGINT);
    }

    /// Sends SIGKILL: the process dies where it stands (a crash, an OOM kill); wait for it with
    /// [`Self::wait_exit`].
    pub fn kill(&self) {
        self.signal(libc::SIGKILL);
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = self.pid() as libc::pid_t;
        // SAFETY: kill(2) on a child we started and have not reaped; no memory is involved.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            rc,
            0,
            "kill -{signal} {pid}: {}",
            std::io::Error::last_os_error()
        );
    }

    /// The exit status once the process has exited, or None if it is still running after
    /// `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then the time it took to exit and its status; panics unless it exited within
    /// `within`.
    pub async fn stop(&mut self, within: Duration) -> (Duration, ExitStatus) {
        let started = Instant::now();
        self.terminate();
        let status = self
            .wait_exit(within)
            .await
            .unwrap_or_else(|| panic!("{} still running {within:?} after SIGTERM", self.name));
        (started.elapsed(), status)
    }

    /// Starts it again with the same settings and port (a rolling update's new pod).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is still running", self.name);
        self.spawn();
    }

    /// Polls `GET <path>` until it answers `status` or `within` passes.
    pub async fn wait_for(&self, path: &str, status: u16, within: Duration) -> bool {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        let url = format!("{}{path}", self.base_url());
        crate::eventually(within, || async {
            client
                .get(&url)
                .send()
                .await
                .map(|r| r.status().as_u16() == status)
                .unwrap_or(false)
        })
        .await
    }
}

/// `binary` with `settings` as `PAYBRIDGE__SECTION__KEY` variables and nothing else from the
/// environment or config files (`PAYBRIDGE_ENV=test`).
fn command<K: AsRef<str>, V: AsRef<str>>(binary: &Path, settings: &[(K, V)]) -> Command {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PAYBRIDGE_ENV", "test")
        .env("PAYBRIDGE_CONFIG_DIR", "/nonexistent");
    for (key, value) in settings {
        let var = format!(
            "PAYBRIDGE__{}",
            key.as_ref().replace('.', "__").to_uppercase()
        );
        command.env(var, value.as_ref());
    }
    command
}

/// Runs `<binary> <args>` to its end with `settings` (as [`ServiceProcess`] passes them), e.g.
/// `migrate` or `dlq list`.
pub fn run_once(binary: &Path, args: &[&str], settings: &[(&str, &str)]) -> Output {
    command(binary, settings)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {} {args:?}: {e}", binary.display()))
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
