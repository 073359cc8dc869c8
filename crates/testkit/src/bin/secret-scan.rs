//! `secret-scan DIR`: the last part of `scripts/test.sh`. Scans what every step run of the
//! suite wrote (recorded under DIR, `$SLIPWAY_SECRET_SCAN_DIR`) for the suite's canary
//! secrets, plain and base64; exits 1 on any hit, or when no step run was recorded at all
//! (the recording would be broken), 2 on bad usage.

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use slipway_testkit::secrets::{CANARIES, scan};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next().map(PathBuf::from), args.next()) else {
        eprintln!("usage: secret-scan DIR (the directory $SLIPWAY_SECRET_SCAN_DIR named during the tests)");
        return ExitCode::from(2);
    };
    let scan = match scan(&dir) {
        Ok(scan) => scan,
        Err(error) => {
            eprintln!("secret-scan: cannot read {}: {error}", dir.display());
            return ExitCode::from(2);
        }
    };
    println!(
        "secret scan: {} step runs, {} files, {} bytes, {} canaries (plain and base64): {} hits",
        scan.runs,
        scan.files,
        scan.bytes,
        CANARIES.len(),
        scan.hits.len()
    );
    for hit in &scan.hits {
        println!("  {}:{}: {} ({})", hit.file.display(), hit.line, hit.canary, hit.form);
    }
    if scan.runs == 0 {
        println!("secret scan: no step run was recorded under {}; the recording is broken", dir.display());
        return ExitCode::from(1);
    }
    if scan.hits.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
