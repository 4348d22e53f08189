//! HTTPS on the HTTP listener: curl, Python's xmlrpc.client and `miwa call` over TLS, a
//! plain-text client refused, and the certificate replaced on SIGHUP (a broken one kept out).

use miwa_tests::{miwa_bin, Daemon};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A self-signed certificate for `localhost` and `127.0.0.1`, written as `<name>.crt` and
/// `<name>.key`.
fn identity(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let issued =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

fn tls_keys(cert: &Path, key: &Path) -> String {
    format!(
        "tls_certificate = \"{}\"\ntls_key = \"{}\"",
        cert.display(),
        key.display()
    )
}

/// curl's reply body for an `uptime` POST trusting `ca`, or its error output.
fn curl(daemon: &Daemon, ca: &Path) -> Result<String, String> {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "5", "--cacert"])
        .arg(ca)
        .args(["-H", "Content-Type: application/json", "-d"])
        .arg(r#"{"jsonrpc":"2.0","method":"uptime","id":7}"#)
        .arg(format!("https://127.0.0.1:{}/mi", daemon.http.port()))
        .output()
        .unwrap();
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn real_clients_speak_https() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = identity(dir.path(), "server");
    let daemon = Daemon::start(&tls_keys(&cert, &key)).unwrap();

    let reply = curl(&daemon, &cert).expect("curl over https");
    assert!(reply.contains(r#""Up since":"#), "{reply}");
    assert!(reply.contains(r#""id":7"#), "{reply}");

    let script = format!(
        "import ssl, xmlrpc.client\n\
         context = ssl.create_default_context(cafile={:?})\n\
         proxy = xmlrpc.client.ServerProxy('https://localhost:{}/RPC2', context=context)\n\
         print('pwd' in proxy.which())\n\
         print(proxy.uptime()['Up since'] != '')\n",
        cert.display().to_string(),
        daemon.http.port()
    );
    let python = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&python.stdout);
    assert!(
        python.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&python.stderr)
    );
    assert_eq!(printed, "True\nTrue\n");

    let url = format!("https://127.0.0.1:{}/mi", daemon.http.port());
    let call = Command::new(miwa_bin())
        .args(["call", "--url", &url, "--cacert"])
        .arg(&cert)
        .arg("pwd")
        .output()
        .unwrap();
    assert!(call.status.success(), "{call:?}");
    assert!(String::from_utf8_lossy(&call.stdout).contains("WD"));
    let untrusted = Command::new(miwa_bin())
        .args(["call", "--url", &url, "pwd"])
        .output()
        .unwrap();
    assert!(!untrusted.status.success());
    let said = String::from_utf8_lossy(&untrusted.stderr);
    assert!(said.contains("TLS handshake"), "{said}");

    let plain = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-d", "{}"])
        .arg(format!("http://127.0.0.1:{}/mi", daemon.http.port()))
        .output()
        .unwrap();
    assert!(!plain.status.success(), "plain HTTP on the HTTPS port");
    assert!(curl(&daemon, &cert).is_ok(), "still serving after it");

    let scrape = Command::new("curl")
        .args(["-sS", "--max-time", "5", "--cacert"])
        .arg(&cert)
        .arg(format!("https://127.0.0.1:{}/metrics", daemon.http.port()))
        .output()
        .unwrap();
    let exposition = String::from_utf8_lossy(&scrape.stdout);
    assert!(
        exposition.contains("\nmiwa_command_calls_total{command=\"uptime\"} "),
        "/metrics over the same TLS listener: {exposition}"
    );
}

#[test]
fn sighup_replaces_the_certificate_and_keeps_it_when_the_new_one_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = identity(dir.path(), "server");
    let first_ca = dir.path().join("first.crt");
    std::fs::copy(&cert, &first_ca).unwrap();
    let daemon = Daemon::start(&tls_keys(&cert, &key)).unwrap();
    assert!(curl(&daemon, &first_ca).is_ok());

    let (next_cert, next_key) = identity(dir.path(), "next");
    std::fs::copy(&next_cert, &cert).unwrap();
    std::fs::copy(&next_key, &key).unwrap();
    let hangup = || {
        let status = Command::new("kill")
            .args(["-HUP", &daemon.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    hangup();
    let deadline = Instant::now() + Duration::from_secs(5);
    while curl(&daemon, &next_cert).is_err() {
        assert!(Instant::now() < deadline, "the new certificate is served");
        std::thread::sleep(Duration::from_millis(50));
    }
    let refused = curl(&daemon, &first_ca).expect_err("the old certificate is gone");
    assert!(refused.contains("certificate"), "{refused}");

    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    hangup();
    assert!(
        daemon.logged("TLS reload on SIGHUP failed"),
        "the failed reload is logged"
    );
    assert!(
        curl(&daemon, &next_cert).is_ok(),
        "the identity in use is kept"
    );
}

#[test]
fn a_missing_or_half_configured_identity_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = identity(dir.path(), "server");
    let missing = dir.path().join("missing.key");
    let error = Daemon::start(&tls_keys(&cert, &missing))
        .err()
        .expect("a missing key stops the start")
        .to_string();
    assert!(error.contains("missing.key"), "{error}");
    let error = Daemon::start(&format!("tls_certificate = \"{}\"", cert.display()))
        .err()
        .expect("a certificate without a key stops the start")
        .to_string();
    assert!(
        error.contains("http.tls_certificate / http.tls_key"),
        "{error}"
    );
}

#[test]
fn a_stalled_tls_handshake_is_cut_off() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = identity(dir.path(), "server");
    let daemon = Daemon::start(&format!(
        "{}\nrequest_timeout_ms = 300",
        tls_keys(&cert, &key)
    ))
    .unwrap();
    let mut stalled = std::net::TcpStream::connect(daemon.http).unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let closed =
        matches!(stalled.read(&mut buf), Ok(0)) || started.elapsed() < Duration::from_secs(5);
    assert!(closed, "a handshake that never completes is closed");
    assert!(curl(&daemon, &cert).is_ok(), "others are still served");
}

#[test]
fn websockets_speak_wss() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = identity(dir.path(), "server");
    let daemon = Daemon::start(&tls_keys(&cert, &key)).unwrap();
    let url = format!("wss://localhost:{}/ws", daemon.http.port());

    let call = Command::new(miwa_bin())
        .args(["call", "--transport", "ws", "--url", &url, "--cacert"])
        .arg(&cert)
        .arg("pwd")
        .output()
        .unwrap();
    assert!(call.status.success(), "{call:?}");
    assert!(String::from_utf8_lossy(&call.stdout).contains("WD"));
    let untrusted = Command::new(miwa_bin())
        .args(["call", "--transport", "ws", "--url", &url, "pwd"])
        .output()
        .unwrap();
    assert!(!untrusted.status.success());
    assert!(String::from_utf8_lossy(&untrusted.stderr).contains("TLS handshake"));

    let mut client = miwa_tests::python_client("ws_client.py")
        .arg(&url)
        .arg("--cafile")
        .arg(&cert)
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(
        client.stdin.take().unwrap(),
        "{}",
        serde_json::json!({"text": r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#})
    )
    .unwrap();
    let output = client.wait_with_output().unwrap();
    let seen = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && seen.contains("WD"), "{seen}");
}
