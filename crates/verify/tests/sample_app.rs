//! End to end against the real sample app (workflows-examples/sample-app), when its jar
//! has been built and java is on PATH. Without them the test says so and passes, unless
//! SLIPWAY_REQUIRE_E2E=1 asks for the real thing (as CI does once the jar is built).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{stderr, stdout, verify};

const JAR: &str = "workflows-examples/sample-app/target/sample-app-1.0.0.jar";

/// The jar and the java binary, or why the test cannot run.
fn prerequisites() -> Result<(PathBuf, PathBuf), String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let jar = workspace.join(JAR);
    if !jar.is_file() {
        return Err(format!("{JAR} is not built (build it with build-jar, mvn or gradle)"));
    }
    let java = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("java"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| "java is not on PATH".to_owned())?;
    Ok((jar, java))
}

/// The running app; killed when dropped, so a failed assertion leaves no JVM behind.
struct App(Child);

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

#[test]
fn proves_the_sample_apps_version() {
    let (jar, java) = match prerequisites() {
        Ok(found) => found,
        Err(missing) if std::env::var("SLIPWAY_REQUIRE_E2E").as_deref() == Ok("1") => {
            panic!("SLIPWAY_REQUIRE_E2E=1 but {missing}")
        }
        Err(missing) => {
            eprintln!("skipped: {missing}; set SLIPWAY_REQUIRE_E2E=1 to make this a failure");
            return;
        }
    };
    let port = free_port();
    let _app = App(Command::new(java)
        .arg("-jar")
        .arg(&jar)
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the sample app"));
    let url = format!("http://127.0.0.1:{port}");

    // verify itself waits for the JVM to start listening.
    let pass = verify()
        .args(["--url", &url, "--check", "/health", "--expect-json", "/status=UP"])
        .args(["--expect-version", "1.0.0", "--timeout", "30s", "--interval", "200ms"])
        .output()
        .unwrap();
    assert_eq!(pass.status.code(), Some(0), "{}", stderr(&pass));
    assert!(stdout(&pass).contains("version-seen=1.0.0\n"), "{}", stdout(&pass));

    let fail = verify()
        .args(["--url", &url, "--expect-version", "9.9.9", "--timeout", "1s"])
        .args(["--interval", "200ms"])
        .output()
        .unwrap();
    let log = stderr(&fail);
    assert_eq!(fail.status.code(), Some(1), "{log}");
    assert!(
        log.lines().last().unwrap().ends_with("version mismatch: expected 9.9.9, the service serves 1.0.0"),
        "{log}"
    );
}
