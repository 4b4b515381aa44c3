//! The benchmarks' push service (`nonstop-bench push-service`: TLS, HTTP/2, a round trip,
//! faults on demand), spawned as a process of its own, and what the tests ask of it.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

pub struct PushService {
    child: Child,
    pub port: u16,
    /// Its certificate's PEM file, for `push.extra_root_certificates`.
    pub certificate: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl PushService {
    /// Starts the service with these arguments (`--rtt-ms 20 --faults 429=10%`).
    pub fn spawn(arguments: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nonstop-bench"))
            .arg("push-service")
            .args(arguments)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nonstop-bench push-service starts");
        let stdout = child.stdout.take().expect("stdout");
        // The benchmark binary prints its clock first; the service's line is the JSON one.
        let line = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|line| line.starts_with('{'))
            .expect("the service's line");
        let started: Value = serde_json::from_str(&line).expect("JSON");
        let dir = tempfile::tempdir().expect("tempdir");
        let certificate = dir.path().join("push-service.pem");
        std::fs::write(&certificate, started["certificate_pem"].as_str().expect("certificate")).expect("write");
        Self { child, port: started["port"].as_u64().expect("port") as u16, certificate, _dir: dir }
    }

    /// A subscription to this service: the device registration body a browser would send
    /// (real P-256 keys: nonstop encrypts to them), and its path.
    pub fn subscribe(&self) -> (String, Value) {
        let (pair, auth) = ece::generate_keypair_and_auth_secret().expect("keys");
        let public = pair.pub_as_raw().expect("public key");
        let path = format!("/push/{}", uuid::Uuid::new_v4().simple());
        let body = json!({
            "kind": "web_push",
            "endpoint": format!("https://127.0.0.1:{}{path}", self.port),
            "keys": { "p256dh": URL_SAFE_NO_PAD.encode(public), "auth": URL_SAFE_NO_PAD.encode(auth) }
        });
        (path, body)
    }

    /// What it received (`GET /stats`): requests, pushes taken, doubles, answers, connections.
    pub async fn stats(&self) -> Value {
        let pem = std::fs::read(&self.certificate).expect("pem");
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("certificate"))
            .build()
            .expect("client");
        let url = format!("https://127.0.0.1:{}/stats", self.port);
        client.get(url).send().await.expect("stats").json().await.expect("JSON")
    }
}

impl Drop for PushService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
