//! TLS-only servers of a test's own, with certificates the test makes (rcgen): a PostgreSQL
//! cluster that accepts only `hostssl` connections, and a RabbitMQ node with a TLS listener and
//! no plaintext one. Both are started once per test binary, on free ports, in a temporary
//! directory, and stopped and removed when the test process exits (however it exits: a watchdog
//! process waits for the test process's end). The machine's shared PostgreSQL (5432) and RabbitMQ
//! (5672) are never touched.
//!
//! They need the PostgreSQL server binaries (`/usr/lib/postgresql/<version>/bin`) and
//! `rabbitmq-server` (`/usr/lib/rabbitmq/bin`), which `scripts/ensure-services.sh` installs.
//! PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The certificates of a test's servers: a CA of its own, a server certificate it signed for
/// `localhost`, `127.0.0.1` and `::1`, and another CA that signed nothing (a wrong CA).
pub struct TestCerts {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub other_ca_pem: String,
}

impl TestCerts {
    pub fn generate() -> TestCerts {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "paybridge test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate().expect("server key");
        let mut server = CertificateParams::new(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])
        .expect("server params");
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let server_cert = server
            .signed_by(&server_key, &issuer)
            .expect("server certificate");

        let other_key = KeyPair::generate().expect("other CA key");
        let mut other = CertificateParams::new(Vec::<String>::new()).expect("other CA params");
        other.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        other
            .distinguished_name
            .push(DnType::CommonName, "another test CA");
        let other_cert = other.self_signed(&other_key).expect("other CA certificate");

        TestCerts {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            other_ca_pem: other_cert.pem(),
        }
    }
}

/// Where a test reads the CAs: `ca.pem` (the servers' CA) and `wrong-ca.pem` (one that signed
/// nothing they show), readable by anyone.
pub struct CaFiles {
    pub ca: PathBuf,
    pub wrong_ca: PathBuf,
}

/// The certificates every server of this test binary uses, and the CA files tests point at.
pub fn certs() -> &'static (TestCerts, CaFiles) {
    static CERTS: OnceLock<(TestCerts, CaFiles)> = OnceLock::new();
    CERTS.get_or_init(|| {
        let certs = TestCerts::generate();
        let dir = temp_dir("pbt-tls-ca");
        let ca = dir.join("ca.pem");
        let wrong_ca = dir.join("wrong-ca.pem");
        std::fs::write(&ca, &certs.ca_pem).unwrap();
        std::fs::write(&wrong_ca, &certs.other_ca_pem).unwrap();
        remove_at_exit(&format!("rm -rf '{}'", dir.display()));
        (certs, CaFiles { ca, wrong_ca })
    })
}

/// A directory under /tmp (not `$TMPDIR`, which may be private to this user: the postgres user
/// must reach the cluster's).
fn temp_dir(prefix: &str) -> PathBuf {
    let dir = Path::new("/tmp").join(crate::unique(&format!("{prefix}-")));
    std::fs::create_dir_all(&dir).unwrap();
    set_mode(&dir, 0o755);
    dir
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// `program args…`, as `user` when this process is root.
fn command_as(user: &str, program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", user, "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn chown(path: &Path, user: &str) {
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", &format!("{user}:")])
            .arg(path)
            .status()
            .expect("chown");
        assert!(status.success(), "chown {user} {}", path.display());
    }
}

fn run(mut command: Command, what: &str) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `script` (sh) once this test process has exited, whatever the cause: a watchdog in a
/// session of its own (so that a Ctrl-C to the test does not stop it first) reads its stdin
/// until the test process, the only holder of the other end, is gone.
fn remove_at_exit(script: &str) {
    use std::os::unix::process::CommandExt;
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("read _ignored; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start the clean-up watchdog");
    // Its stdin stays open as long as this process holds it.
    hold(child);
}

/// Keeps a child (and its pipes) for the life of the test process: the servers and their
/// watchdogs end with it, never before.
fn hold(child: Child) {
    static HELD: Mutex<Vec<Child>> = Mutex::new(Vec::new());
    HELD.lock().unwrap().push(child);
}

/// A PostgreSQL cluster of this test binary's own that accepts TLS connections only
/// (`hostssl … scram-sha-256` in `pg_hba.conf`, nothing for `host`), with the certificate of
/// [`certs`].
pub struct TlsPostgres {
    pub port: u16,
    pub password: &'static str,
    dir: PathBuf,
}

impl TlsPostgres {
    /// The cluster, started on first use.
    pub fn shared() -> &'static TlsPostgres {
        static SERVER: OnceLock<TlsPostgres> = OnceLock::new();
        SERVER.get_or_init(TlsPostgres::start)
    }

    fn bin_dir() -> PathBuf {
        let root = Path::new("/usr/lib/postgresql");
        let mut versions: Vec<u32> = std::fs::read_dir(root)
            .unwrap_or_else(|e| {
                panic!("{}: {e}: the PostgreSQL server is not installed (scripts/ensure-services.sh installs it)", root.display())
            })
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        versions.sort();
        let version = versions.last().expect("a PostgreSQL version");
        root.join(version.to_string()).join("bin")
    }

    fn start() -> TlsPostgres {
        let (certs, _) = certs();
        let bin = Self::bin_dir();
        let dir = temp_dir("pbt-tls-pg");
        let data = dir.join("data");
        let password = "tls-test-password";
        std::fs::write(dir.join("server.crt"), &certs.server_cert_pem).unwrap();
        std::fs::write(dir.join("server.key"), &certs.server_key_pem).unwrap();
        set_mode(&dir.join("server.key"), 0o600);
        std::fs::write(dir.join("pwfile"), password).unwrap();
        chown(&dir, "postgres");
        let mut initdb = command_as("postgres", &bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "scram-sha-256", "--no-sync"])
            .arg(format!("--pwfile={}", dir.join("pwfile").display()));
        run(initdb, "initdb");
        let port = crate::free_port();
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .unwrap();
        write!(
            conf,
            "\n# paybridge TLS tests\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
             unix_socket_directories = '{dir}'\nssl = on\nssl_cert_file = '{dir}/server.crt'\n\
             ssl_key_file = '{dir}/server.key'\nmax_connections = 200\nshared_buffers = 32MB\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
            dir = dir.display()
        )
        .unwrap();
        // TLS or nothing over TCP: a plaintext connection finds no line that admits it.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostssl all all ::1/128 scram-sha-256\n",
        )
        .unwrap();
        chown(&dir, "postgres");
        remove_at_exit(&format!(
            "{runuser}'{pg_ctl}' -D '{data}' -m immediate stop; rm -rf '{dir}'",
            runuser = if is_root() {
                "runuser -u postgres -- "
            } else {
                ""
            },
            pg_ctl = bin.join("pg_ctl").display(),
            data = data.display(),
            dir = dir.display(),
        ));
        let mut pg_ctl = command_as("postgres", &bin.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-t", "60", "start"]);
        run(pg_ctl, "pg_ctl start");
        TlsPostgres {
            port,
            password,
            dir,
        }
    }

    /// `postgres://postgres:<password>@127.0.0.1:<port>/<database>`, with no TLS parameters:
    /// a test adds the `sslmode` it shows.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// `url(database)` with `sslmode=verify-full&sslrootcert=<the CA>`.
    pub fn verified_url(&self, database: &str) -> String {
        format!(
            "{}?sslmode=verify-full&sslrootcert={}",
            self.url(database),
            certs().1.ca.display()
        )
    }

    /// Creates an empty database of the test's own and returns its name.
    pub async fn create_database(&self) -> String {
        let name = crate::unique("pbt_");
        crate::execute(
            &self.verified_url("postgres"),
            &format!("CREATE DATABASE {name}"),
        )
        .await;
        name
    }

    /// The server's log, for a test's failure message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

/// A RabbitMQ node of this test binary's own with a TLS listener (the certificate of [`certs`])
/// and no plaintext one.
pub struct TlsRabbit {
    pub port: u16,
    pub node: String,
    dir: PathBuf,
}

const RABBIT_BIN: &str = "/usr/lib/rabbitmq/bin";

impl TlsRabbit {
    /// The node, started on first use.
    pub fn shared() -> &'static TlsRabbit {
        static NODE: OnceLock<TlsRabbit> = OnceLock::new();
        NODE.get_or_init(TlsRabbit::start)
    }

    /// The environment that makes the node (and the CLI that talks to it) this test's own:
    /// nothing is read from /etc/rabbitmq or /var/lib/rabbitmq.
    fn env(&self, command: &mut Command) {
        let d = &self.dir;
        command
            .env("HOME", d)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_CONF_ENV_FILE", d.join("rabbitmq-env.conf"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", d.join("advanced.config"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_PID_FILE", d.join("node.pid"));
    }

    fn start() -> TlsRabbit {
        let bin = Path::new(RABBIT_BIN);
        assert!(
            bin.join("rabbitmq-server").is_file(),
            "{RABBIT_BIN}/rabbitmq-server is missing: RabbitMQ is not installed (scripts/ensure-services.sh installs it)"
        );
        let (certs, files) = certs();
        let dir = temp_dir("pbt-tls-mq");
        let port = crate::free_port();
        let dist_port = crate::free_port();
        let node = format!("{}@localhost", crate::unique("pbt-tls-"));
        std::fs::write(dir.join("server.crt"), &certs.server_cert_pem).unwrap();
        std::fs::write(dir.join("server.key"), &certs.server_key_pem).unwrap();
        set_mode(&dir.join("server.key"), 0o600);
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!(
                "listeners.tcp = none\n\
                 listeners.ssl.default = 127.0.0.1:{port}\n\
                 ssl_options.cacertfile = {ca}\n\
                 ssl_options.certfile = {dir}/server.crt\n\
                 ssl_options.keyfile = {dir}/server.key\n\
                 ssl_options.verify = verify_none\n\
                 ssl_options.fail_if_no_peer_cert = false\n",
                ca = files.ca.display(),
                dir = dir.display()
            ),
        )
        .unwrap();
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(dir.join("rabbitmq-env.conf"), "").unwrap();
        let cookie = dir.join(".erlang.cookie");
        std::fs::write(&cookie, crate::unique("pbtcookie")).unwrap();
        set_mode(&cookie, 0o400);
        let rabbit = TlsRabbit { port, node, dir };

        let mut server = Command::new(bin.join("rabbitmq-server"));
        rabbit.env(&mut server);
        server
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        {
            use std::os::unix::process::CommandExt;
            server.process_group(0);
        }
        let child = server.spawn().expect("start rabbitmq-server");
        remove_at_exit(&format!(
            "HOME='{dir}' RABBITMQ_CONF_ENV_FILE='{dir}/rabbitmq-env.conf' timeout 30 '{bin}/rabbitmqctl' -n '{node}' stop >/dev/null 2>&1; \
             kill -9 -{pid} 2>/dev/null; rm -rf '{dir}'",
            dir = rabbit.dir.display(),
            bin = RABBIT_BIN,
            node = rabbit.node,
            pid = child.id(),
        ));
        hold(child);
        // The node registers with epmd a few seconds after it starts; `await_startup` fails at
        // once until then.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut wait = Command::new(bin.join("rabbitmqctl"));
            rabbit.env(&mut wait);
            let out = wait
                .args(["-n", &rabbit.node, "await_startup", "--timeout", "60"])
                .output()
                .expect("run rabbitmqctl");
            if out.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the TLS RabbitMQ node did not start: {}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                rabbit.log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        rabbit
    }

    /// `amqps://guest:guest@127.0.0.1:<port>/%2f`.
    pub fn url(&self) -> String {
        format!("amqps://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The node's log, for a test's failure message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log").join(format!("{}.log", self.node)))
            .unwrap_or_default()
    }

    /// A connection of the test's own, over TLS, trusting the test's CA.
    pub async fn connect(&self) -> lapin::Connection {
        let tls = lapin::tcp::OwnedTLSConfig {
            identity: None,
            cert_chain: Some(certs().0.ca_pem.clone()),
        };
        lapin::Connection::connect_with_config(
            &self.url(),
            lapin::ConnectionProperties::default(),
            tls,
            lapin::runtime::default_runtime().expect("tokio runtime"),
        )
        .await
        .unwrap_or_else(|e| panic!("the TLS RabbitMQ node: {e}\n{}", self.log()))
    }

    /// A tap on `exchange` of this node.
    pub async fn tap(&self, exchange: &str, binding: &str) -> crate::EventTap {
        crate::EventTap::on(self.connect().await, exchange, binding).await
    }
}
