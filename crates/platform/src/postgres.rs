//! Connections to PostgreSQL, with or without TLS, as `database.url` asks: libpq's `sslmode` and
//! `sslrootcert` read as libpq reads them, TLS by rustls (never OpenSSL, never libpq).
//!
//! | `sslmode` | TLS | the server's certificate |
//! | --- | --- | --- |
//! | `disable` | never | — |
//! | `prefer` (default) | if the server offers it | not checked, unless `sslrootcert` is given (chain) |
//! | `require` | always | not checked, unless `sslrootcert` is given (chain) |
//! | `verify-ca` | always | chain to `sslrootcert` (or the system's CAs) |
//! | `verify-full` | always | chain, and the host name of the URL |
//!
//! As in libpq, a root certificate file makes `prefer` and `require` check the chain too. Without
//! `sslrootcert` (or with `sslrootcert=system`), `verify-ca` and `verify-full` trust the system's CA
//! certificates (`/etc/ssl/certs`, or `SSL_CERT_FILE` / `SSL_CERT_DIR`); libpq's
//! `~/.postgresql/root.crt` is never read. The file is read at every new connection, so a rotated
//! CA is picked up without a restart. A handshake that fails is an error naming the setting, never
//! a retry in plaintext. tokio-postgres does not know `verify-ca`, `verify-full` or `sslrootcert`:
//! they are taken out of the URL here and everything else is passed on to it.

use diesel::ConnectionError;
use diesel_async::AsyncPgConnection;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How long one connection may take to open (TCP, TLS, authentication).
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(raw: &str) -> Result<Self, String> {
        Ok(match raw {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            // libpq's `allow` tries plaintext first: it would never protect anything here.
            other => {
                return Err(format!(
                "sslmode '{other}' is not one of disable, prefer, require, verify-ca, verify-full"
            ))
            }
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Which certificates the server's is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// No `sslrootcert`.
    Unset,
    /// `sslrootcert=system`.
    System,
    /// `sslrootcert=<PEM file>`.
    File(PathBuf),
}

/// A parsed `database.url`. Its Debug shows the TLS settings only, never the URL (it may carry a
/// password).
#[derive(Clone)]
pub struct PgTarget {
    config: tokio_postgres::Config,
    mode: SslMode,
    roots: Roots,
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTarget")
            .field("sslmode", &self.mode)
            .field("sslrootcert", &self.roots)
            .finish_non_exhaustive()
    }
}

impl PgTarget {
    /// Reads a `postgres://` URL. The error names the parameter at fault and never repeats the
    /// URL.
    pub fn parse(url: &str) -> Result<PgTarget, String> {
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, query),
            None => (url, ""),
        };
        let mut mode = SslMode::Prefer;
        let mut roots = Roots::Unset;
        let mut rest = Vec::new();
        // Raw pairs are kept as written: re-encoding them (`+` for a space) would change what
        // tokio-postgres reads.
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| format!("the value of '{key}' is not UTF-8"))?;
            match key {
                "sslmode" => mode = SslMode::parse(&decoded)?,
                "sslrootcert" if decoded == "system" => roots = Roots::System,
                "sslrootcert" if decoded.is_empty() => roots = Roots::Unset,
                "sslrootcert" => roots = Roots::File(PathBuf::from(decoded.as_ref())),
                // Client certificates are not supported: refused, rather than ignored and the
                // connection then refused by the server for a reason no one sees.
                "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" => {
                    return Err(format!(
                        "'{key}' is not supported (only sslmode and sslrootcert)"
                    ))
                }
                _ => rest.push(pair),
            }
        }
        let stripped = if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let mut config: tokio_postgres::Config = stripped
            .parse()
            .map_err(|e| format!("not a PostgreSQL URL ({})", error_chain(&e)))?;
        config.ssl_mode(match mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        Ok(PgTarget {
            config,
            mode,
            roots,
        })
    }

    pub fn ssl_mode(&self) -> SslMode {
        self.mode
    }

    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// What the TLS settings are, for errors: `sslmode=verify-full, sslrootcert=/etc/ca.pem`.
    fn describe(&self) -> String {
        match &self.roots {
            Roots::Unset if self.checks_chain() => format!(
                "database.url sslmode={}, the system's CA certificates",
                self.mode.as_str()
            ),
            Roots::Unset => format!("database.url sslmode={}", self.mode.as_str()),
            Roots::System => format!(
                "database.url sslmode={}, sslrootcert=system",
                self.mode.as_str()
            ),
            Roots::File(path) => format!(
                "database.url sslmode={}, sslrootcert={}",
                self.mode.as_str(),
                path.display()
            ),
        }
    }

    /// Whether the certificate chain is checked (libpq: verify-*, or any TLS mode with roots).
    fn checks_chain(&self) -> bool {
        match self.mode {
            SslMode::Disable => false,
            SslMode::VerifyCa | SslMode::VerifyFull => true,
            SslMode::Prefer | SslMode::Require => self.roots != Roots::Unset,
        }
    }

    /// The rustls configuration for this target, with its root certificates read now.
    fn tls_config(&self) -> Result<ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = if self.checks_chain() {
            let roots = Arc::new(self.root_store()?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("{}: {e}", self.describe()))?;
            if self.mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        } else {
            Arc::new(Unchecked(provider.clone()))
        };
        Ok(ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }

    fn root_store(&self) -> Result<RootCertStore, String> {
        let mut store = RootCertStore::empty();
        match &self.roots {
            Roots::File(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("{}: cannot read the file ({e})", self.describe()))?;
                let (added, _) = store.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(format!(
                        "{}: the file holds no usable PEM certificate",
                        self.describe()
                    ));
                }
            }
            Roots::Unset | Roots::System => {
                let loaded = rustls_native_certs::load_native_certs();
                store.add_parsable_certificates(loaded.certs);
                if store.is_empty() {
                    return Err(format!(
                        "{}: no CA certificate could be loaded from the system; set sslrootcert",
                        self.describe()
                    ));
                }
            }
        }
        Ok(store)
    }

    /// Opens one connection, its driver task spawned on the current runtime. Connecting, the
    /// TLS handshake and authentication together get [`CONNECT_TIMEOUT`]: a server that accepts
    /// and then says nothing must not hold a migration or a purge for ever.
    pub async fn connect(&self) -> Result<AsyncPgConnection, ConnectionError> {
        let tls = MakeRustls {
            config: Arc::new(self.tls_config().map_err(ConnectionError::BadConnection)?),
            describe: self.describe().into(),
        };
        let connecting = tokio::time::timeout(CONNECT_TIMEOUT, self.config.connect(tls));
        let connected = connecting.await.map_err(|_| {
            ConnectionError::BadConnection(format!(
                "PostgreSQL did not answer within {CONNECT_TIMEOUT:?}"
            ))
        })?;
        let (client, connection) = connected.map_err(|e| {
            let why = error_chain(&e);
            // tokio-postgres says only "server does not support TLS": say which setting asked.
            ConnectionError::BadConnection(if why.contains("does not support TLS") {
                format!("{why} ({} needs TLS)", self.describe())
            } else {
                why
            })
        })?;
        AsyncPgConnection::try_from_client_and_connection(client, connection).await
    }
}

/// `e` and every error under it, as one line: tokio-postgres's own Display names only the kind.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// `sslmode=verify-ca`: the chain must lead to a trusted root; the name is not checked. The
/// webpki verifier checks the chain before the name, so a name error means the chain passed.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `sslmode=prefer` or `require` without `sslrootcert`: encrypted, the certificate not checked
/// (libpq does the same). The handshake's signatures are still verified.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// tokio-postgres's TLS hook, with rustls.
#[derive(Clone)]
struct MakeRustls {
    config: Arc<ClientConfig>,
    describe: Arc<str>,
}

impl<S> tokio_postgres::tls::MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        let name = ServerName::try_from(domain.to_owned()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: '{domain}' is not a host name for TLS ({e})",
                    self.describe
                ),
            )
        })?;
        Ok(RustlsConnect {
            config: self.config.clone(),
            name,
            describe: self.describe.clone(),
        })
    }
}

struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    describe: Arc<str>,
}

impl<S> tokio_postgres::tls::TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await
                .map(RustlsStream)
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("TLS to PostgreSQL failed ({}): {e}", self.describe),
                    )
                })
        })
    }
}

/// A TLS stream as tokio-postgres wants it. Channel binding is not offered: SCRAM then runs
/// without it, as it does over any TLS connection libpq makes with `channel_binding=prefer`.
pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        tokio_postgres::tls::ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sslmode_and_sslrootcert_and_passes_the_rest_on() {
        let t = PgTarget::parse("postgres://u:p@db.example:6432/app").unwrap();
        assert_eq!((t.ssl_mode(), t.roots()), (SslMode::Prefer, &Roots::Unset));
        let t = PgTarget::parse(
            "postgres://u:p@db.example/app?application_name=a%20b&sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20dir%2Fca.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(t.ssl_mode(), SslMode::VerifyFull);
        assert_eq!(t.roots(), &Roots::File("/etc/ca dir/ca.pem".into()));
        // What tokio-postgres got: the other parameters, decoded as it decodes them.
        assert_eq!(t.config.get_application_name(), Some("a b"));
        assert_eq!(
            t.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(5))
        );
        assert_eq!(
            t.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        let t = PgTarget::parse("postgres://h/d?sslmode=verify-ca&sslrootcert=system").unwrap();
        assert_eq!(
            (t.ssl_mode(), t.roots()),
            (SslMode::VerifyCa, &Roots::System)
        );
        let t = PgTarget::parse("postgres://h/d?sslmode=disable").unwrap();
        assert_eq!(
            t.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
    }

    #[test]
    fn which_modes_check_the_chain() {
        let checks = |url: &str| PgTarget::parse(url).unwrap().checks_chain();
        assert!(!checks("postgres://h/d"));
        assert!(!checks("postgres://h/d?sslmode=require"));
        assert!(checks("postgres://h/d?sslmode=verify-ca"));
        assert!(checks("postgres://h/d?sslmode=verify-full"));
        // libpq: a root certificate makes require check the chain.
        assert!(checks("postgres://h/d?sslmode=require&sslrootcert=/ca.pem"));
        assert!(!checks(
            "postgres://h/d?sslmode=disable&sslrootcert=/ca.pem"
        ));
    }

    #[test]
    fn errors_name_the_parameter_and_hide_the_url() {
        let err = PgTarget::parse("postgres://u:hunter2@h/d?sslmode=allow").unwrap_err();
        assert!(err.contains("sslmode 'allow'"), "{err}");
        let err = PgTarget::parse("postgres://u:hunter2@h/d?sslcert=/c.pem").unwrap_err();
        assert!(err.contains("'sslcert' is not supported"), "{err}");
        let err = PgTarget::parse("postgres://u:hunter2@h/d?nonsense=1").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let t = PgTarget::parse("postgres://u:hunter2@h/d?sslmode=verify-full").unwrap();
        assert!(!format!("{t:?}").contains("hunter2"));
    }

    #[test]
    fn a_missing_or_empty_root_file_is_an_error_that_names_it() {
        let t =
            PgTarget::parse("postgres://h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
                .unwrap();
        let err = t.tls_config().unwrap_err();
        assert!(
            err.starts_with(
                "database.url sslmode=verify-full, sslrootcert=/nonexistent/ca.pem: cannot read"
            ),
            "{err}"
        );
        let empty = std::env::temp_dir().join(format!("pbt-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let t = PgTarget::parse(&format!(
            "postgres://h/d?sslmode=verify-ca&sslrootcert={}",
            empty.display()
        ))
        .unwrap();
        let err = t.tls_config().unwrap_err();
        std::fs::remove_file(&empty).ok();
        assert!(err.contains("no usable PEM certificate"), "{err}");
    }
}
