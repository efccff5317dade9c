//! Certificates for a TLS test server: a CA and a server certificate it signs.

use std::path::Path;
use std::process::Command;

use anyhow::Context;

use super::COMMAND_TIMEOUT;
use super::process::{check, chown_postgres, run};

/// Writes a CA (`<dir>/tls/ca.crt`) and a server certificate for `localhost` and
/// `127.0.0.1` signed by it, copied with its key into `data` as `server.crt` and `server.key`
/// (P-256 keys: quick to make). `as_root`: the copies are then given to the postgres user.
pub(super) fn make_certificates(dir: &Path, data: &Path, as_root: bool) -> anyhow::Result<()> {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls)?;
    std::fs::write(
        tls.join("openssl.cnf"),
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = weir test CA\n\
         [ca_ext]\nbasicConstraints = critical,CA:TRUE\n\
         keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n\
         [server_ext]\nbasicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost,IP:127.0.0.1\n\
         subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
    )?;
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [(&str, Vec<&str>); 3] = [
        ("the test CA", {
            let mut a = vec!["req", "-x509", "-config", "openssl.cnf"];
            a.extend(["-extensions", "ca_ext", "-days", "3650"]);
            a.extend(key);
            a.extend(["-keyout", "ca.key", "-out", "ca.crt"]);
            a
        }),
        ("the server key", {
            let mut a = vec!["req", "-new", "-config", "openssl.cnf"];
            a.extend(["-subj", "/CN=localhost"]);
            a.extend(key);
            a.extend(["-keyout", "server.key", "-out", "server.csr"]);
            a
        }),
        ("the server certificate", {
            let mut a = vec!["x509", "-req", "-in", "server.csr", "-CA", "ca.crt"];
            a.extend(["-CAkey", "ca.key", "-set_serial", "2", "-days", "3650"]);
            a.extend(["-extfile", "openssl.cnf", "-extensions", "server_ext"]);
            a.extend(["-out", "server.crt"]);
            a
        }),
    ];
    for (what, args) in steps {
        let mut cmd = Command::new("openssl");
        cmd.args(args).current_dir(&tls);
        check(run("openssl", cmd, None, COMMAND_TIMEOUT)?, what)?;
    }
    for name in ["server.crt", "server.key"] {
        std::fs::copy(tls.join(name), data.join(name))
            .with_context(|| format!("cannot copy {name} into {}", data.display()))?;
    }
    // Postgres refuses a key that others may read.
    let mut chmod = Command::new("chmod");
    chmod.arg("600").arg(data.join("server.key"));
    check(run("chmod", chmod, None, COMMAND_TIMEOUT)?, "chmod")?;
    if as_root {
        chown_postgres(data)?;
    }
    Ok(())
}
