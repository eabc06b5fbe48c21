//! `--tls`: a CA generated for one run, and a server certificate it signs, for the addresses the
//! clients dial. Every client verifies the server against that CA and nothing else.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// PEM files of one run's TLS setup.
#[derive(Debug, Clone)]
pub struct RunTls {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot generate the run's TLS certificates: {0}")]
pub struct TlsError(String);

impl RunTls {
    /// A fresh CA and a server certificate for `ips` and `names` (the addresses clients dial).
    pub fn generate(ips: &[IpAddr], names: &[&str]) -> Result<RunTls, TlsError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType,
        };
        let e = |e: rcgen::Error| TlsError(e.to_string());
        let ca_key = KeyPair::generate().map_err(e)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "netbench run CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).map_err(e)?;
        let key = KeyPair::generate().map_err(e)?;
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .map_err(e)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "netbench nats");
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        let cert = params.signed_by(&key, &ca, &ca_key).map_err(e)?;
        Ok(RunTls {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Write `ca.pem`, `server-cert.pem`, `server-key.pem` (0600) into `dir`; returns the CA path.
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        for (name, text) in [
            ("ca.pem", &self.ca_pem),
            ("server-cert.pem", &self.cert_pem),
            ("server-key.pem", &self.key_pem),
        ] {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(dir.join(name))?
                .write_all(text.as_bytes())?;
        }
        Ok(dir.join("ca.pem"))
    }

    /// The nats-server `tls {}` block for the files written by [`RunTls::write`] into `dir`.
    pub fn server_block(dir: &Path) -> String {
        format!(
            "\ntls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  timeout: 5\n}}\n",
            dir.join("server-cert.pem").display(),
            dir.join("server-key.pem").display()
        )
    }
}
