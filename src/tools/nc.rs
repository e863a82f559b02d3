//! `nc`: the part of netcat that container healthchecks and scripts use.
//! Debian's static busybox builds its `nc` without `-z`, yet
//! `nc -z localhost 9092 || exit 1` is a common healthcheck, so the image puts
//! this one ahead of busybox on PATH.
//!
//! - `nc -z [-v] [-w SECS] HOST PORT[-PORT]`: exit 0 when a TCP connect to a
//!   port succeeds, 1 otherwise; nothing is sent.
//! - `nc [-v] [-w SECS] [-q SECS] HOST PORT`: stdin goes to the socket, the
//!   socket to stdout (`echo ruok | nc host 2181`).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

/// How long a connect may take when `-w` is not given, in seconds. netcat
/// itself waits for the kernel's timeout (minutes); a healthcheck should not.
const DEFAULT_CONNECT_SECS: u64 = 10;

/// Bytes moved per read in relay mode.
const RELAY_CHUNK_BYTES: usize = 64 * 1024;

/// `nc`'s flags (netcat's single-letter spellings; `-zv` and `-w1` work).
#[derive(Debug, clap::Args)]
pub struct NcArgs {
    /// Only check that the port accepts a TCP connection; send nothing.
    #[arg(short = 'z')]
    pub zero_io: bool,
    /// Print netcat's "Connection ... succeeded!" / "failed" lines on stderr.
    #[arg(short = 'v')]
    pub verbose: bool,
    /// Connect timeout, and idle timeout while relaying, in seconds.
    #[arg(short = 'w', value_name = "SECS")]
    pub wait_secs: Option<u64>,
    /// After end of stdin, wait this many seconds, then quit (default: until
    /// the peer closes).
    #[arg(short = 'q', value_name = "SECS")]
    pub quit_secs: Option<u64>,
    /// Numeric addresses only (accepted; names are resolved either way).
    #[arg(short = 'n')]
    pub numeric: bool,
    pub host: String,
    /// A port, or a range `LOW-HIGH` with `-z`.
    pub port: String,
}

/// The tool's entry point (TOOLS): its exit status is the check's verdict,
/// so failures print netcat's lines rather than `Error: ...`.
pub fn main(mut argv: Vec<OsString>) -> ExitCode {
    let name = if argv.is_empty() {
        "nc".to_string()
    } else {
        let arg0 = argv.remove(0);
        std::path::Path::new(&arg0)
            .file_name()
            .map_or_else(|| "nc".into(), |n| n.to_string_lossy().into_owned())
    };
    let args: NcArgs = match super::cli::parse(&name, argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("nc: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs `nc`; Err("") is a failure already reported (or silent, as for
/// `-z` without `-v`).
pub fn run(args: &NcArgs) -> Result<(), String> {
    let timeout = Duration::from_secs(args.wait_secs.unwrap_or(DEFAULT_CONNECT_SECS).max(1));
    let (low, high) = port_range(&args.port)?;
    if args.zero_io {
        let mut any = false;
        for port in low..=high {
            match connect(&args.host, port, timeout) {
                Ok(_) => {
                    any = true;
                    if args.verbose {
                        eprintln!("Connection to {} {port} port [tcp/*] succeeded!", args.host);
                    }
                }
                Err(e) if args.verbose => {
                    eprintln!("nc: connect to {} port {port} (tcp) failed: {e}", args.host);
                }
                Err(_) => {}
            }
        }
        return if any { Ok(()) } else { Err(String::new()) };
    }
    if low != high {
        return Err("a port range needs -z".into());
    }
    let stream = match connect(&args.host, low, timeout) {
        Ok(s) => s,
        Err(e) => {
            return Err(format!(
                "connect to {} port {low} (tcp) failed: {e}",
                args.host
            ));
        }
    };
    if args.verbose {
        eprintln!("Connection to {} {low} port [tcp/*] succeeded!", args.host);
    }
    relay(
        stream,
        args.wait_secs.map(Duration::from_secs),
        args.quit_secs,
    )
}

/// `PORT` or `LOW-HIGH`, each 1..=65535.
fn port_range(text: &str) -> Result<(u16, u16), String> {
    let one = |s: &str| match s.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("invalid port: {text}")),
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if a > b {
                return Err(format!("invalid port range: {text}"));
            }
            Ok((a, b))
        }
        None => one(text).map(|p| (p, p)),
    }
}

/// The first address of `host` that accepts a connection within `timeout`.
fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = (bare, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .collect();
    let mut last = format!("{host} resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// Copies stdin to the socket (half-closing it at end of input so the peer
/// sees EOF) and the socket to stdout until the peer closes, the idle
/// timeout `idle` passes, or `quit_secs` after end of input.
fn relay(stream: TcpStream, idle: Option<Duration>, quit_secs: Option<u64>) -> Result<(), String> {
    let mut reader = stream.try_clone().map_err(|e| e.to_string())?;
    reader.set_read_timeout(idle).map_err(|e| e.to_string())?;
    let mut writer = stream;
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; RELAY_CHUNK_BYTES];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if writer.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = writer.shutdown(Shutdown::Write);
        if let Some(q) = quit_secs {
            std::thread::sleep(Duration::from_secs(q));
            let _ = std::io::stdout().flush();
            std::process::exit(0);
        }
    });
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; RELAY_CHUNK_BYTES];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_ranges() {
        assert_eq!(port_range("9092"), Ok((9092, 9092)));
        assert_eq!(port_range("1-3"), Ok((1, 3)));
        assert!(port_range("0").is_err());
        assert!(port_range("3-1").is_err());
        assert!(port_range("x").is_err());
        assert!(port_range("70000").is_err());
    }

    #[test]
    fn zero_io_sees_open_and_closed_ports() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let args = |p: u16| NcArgs {
            zero_io: true,
            verbose: false,
            wait_secs: Some(2),
            quit_secs: None,
            numeric: false,
            host: "127.0.0.1".into(),
            port: p.to_string(),
        };
        assert!(run(&args(port)).is_ok());
        drop(listener);
        assert!(run(&args(port)).is_err());
    }
}
