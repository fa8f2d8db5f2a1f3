//! The authority store reaches PostgreSQL over TLS and verifies the server's certificate.
//!
//! Starts a throwaway PostgreSQL (from /usr/lib/postgresql/*/bin, or `AIRLOCK_PG_BIN`) that
//! accepts TCP connections only over TLS (`hostssl` in pg_hba.conf), with a server certificate
//! for `db.airlock.test` and 127.0.0.1 signed by a CA made here with `openssl`. Runs when
//! `AIRLOCK_TEST_POSTGRES` (as the other PostgreSQL tests) or `AIRLOCK_TEST_POSTGRES_TLS` is
//! set, and then fails rather than skips if PostgreSQL or openssl is missing. Unset, it fails in
//! CI (`CI=true` or `AIRLOCK_REQUIRE_POSTGRES=1`) and is skipped, with a line on stderr,
//! elsewhere.

use airlock_project::store::AuthorityStore;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "common/postgres_env.rs"]
mod postgres_env;

fn enabled() -> bool {
    postgres_env::postgres_enabled(
        "postgres_over_tls_verifies_the_server",
        &["AIRLOCK_TEST_POSTGRES", "AIRLOCK_TEST_POSTGRES_TLS"],
    )
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pg_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("AIRLOCK_PG_BIN") {
        return p.into();
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|d| {
            let v = d.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = d.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).expect(
        "PostgreSQL binaries not found under /usr/lib/postgresql: \
         apt-get install -y postgresql (or set AIRLOCK_PG_BIN)",
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `bin/NAME args…`, as the `postgres` user when running as root (PostgreSQL refuses root).
fn pg(bin: &Path, name: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(name));
        c
    } else {
        Command::new(bin.join(name))
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    run(Command::new("openssl").current_dir(dir).args(args));
}

/// A CA (`NAME.pem`, `NAME.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = pg(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// PostgreSQL on 127.0.0.1 with TLS only, its certificate signed by `dir/ca.pem`.
fn start(dir: &Path) -> Postgres {
    let bin = pg_bin();
    make_ca(dir, "ca");
    make_ca(dir, "other-ca");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=db.airlock.test",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:db.airlock.test,IP:127.0.0.1\n\
         basicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    let data = dir.join("data");
    if is_root() {
        run(Command::new("chown").arg("-R").arg("postgres").arg(dir));
    }
    run(Command::new("chmod")
        .arg("0600")
        .arg(dir.join("server.key")));
    run(pg(&bin, "initdb")
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres"]));
    // TCP only over TLS: a connection that succeeds used TLS.
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let opts = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {d} -c ssl=on \
         -c ssl_cert_file={d}/server.pem -c ssl_key_file={d}/server.key",
        d = dir.display()
    );
    let log = dir.join("log");
    let pgs = Postgres { bin, data, port };
    run(pg(&pgs.bin, "pg_ctl")
        .args(["-w", "-t", "60", "-D"])
        .arg(&pgs.data)
        .arg("-l")
        .arg(&log)
        .args(["-o", &opts, "start"]));
    pgs
}

/// The store at `url`; the test fails with the error if it cannot connect.
fn open(url: &str) -> AuthorityStore {
    AuthorityStore::postgres(url).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The error text of connecting to `url`; the test fails if it connects.
fn refused(url: &str) -> String {
    match AuthorityStore::postgres(url) {
        Ok(_) => panic!("connected to {url}"),
        Err(e) => {
            let text = format!("{e:#}");
            eprintln!("refused, as expected: {text}");
            text
        }
    }
}

#[test]
fn postgres_over_tls_verifies_the_server() {
    if !enabled() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pg = start(dir);
    let port = pg.port;
    let ca = dir.join("ca.pem").display().to_string();
    let other = dir.join("other-ca.pem").display().to_string();
    let by_ip = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let by_name =
        |host: &str| format!("postgres://postgres@{host}:{port}/postgres?hostaddr=127.0.0.1");

    // verify-full with the right CA: by address (IP in the certificate) and by name.
    open(&format!("{by_ip}?sslmode=verify-full&sslrootcert={ca}"));
    let store = open(&format!(
        "{}&sslmode=verify-full&sslrootcert={ca}",
        by_name("db.airlock.test")
    ));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(store.members())
        .unwrap();

    // A CA that did not sign the server's certificate.
    let e = refused(&format!("{by_ip}?sslmode=verify-full&sslrootcert={other}"));
    assert!(
        e.contains("not signed by a CA trusted here") && e.contains(&other),
        "{e}"
    );
    let e = refused(&format!("{by_ip}?sslmode=verify-ca&sslrootcert={other}"));
    assert!(e.contains("not signed by a CA trusted here"), "{e}");

    // The right CA, but a host name the certificate does not list.
    let wrong = by_name("wrong.airlock.test");
    let e = refused(&format!("{wrong}&sslmode=verify-full&sslrootcert={ca}"));
    assert!(e.contains("not valid for the host name"), "{e}");
    assert!(e.contains("sslmode=verify-full"), "{e}");
    // verify-ca checks the chain only.
    open(&format!("{wrong}&sslmode=verify-ca&sslrootcert={ca}"));

    // Without sslmode, a remote-looking host is verified in full: the built-in roots do not
    // know this CA, the CA file does.
    let e = refused(&by_name("db.airlock.test"));
    assert!(e.contains("sslmode=verify-full (default)"), "{e}");
    assert!(e.contains("not signed by a CA trusted here"), "{e}");
    open(&format!("{}&sslrootcert={ca}", by_name("db.airlock.test")));
    // On loopback the default is prefer: TLS when offered, unverified.
    open(&by_ip);
    // require encrypts without verifying (no CA given).
    open(&format!("{by_ip}?sslmode=require"));
    // Plaintext only when asked for — and this server refuses it.
    let e = refused(&format!("{by_ip}?sslmode=disable"));
    assert!(e.contains("sslmode=disable"), "{e}");
}
