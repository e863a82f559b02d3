//! The machine's own ceilings, measured next to the broker figures:
//!
//! * sequential writes of 1 MiB buffers to a file in the data dir:
//!   - `write_pagecache`: write(2) only (what a broker that leaves flushing
//!     to the OS pays per byte),
//!   - `write_fsync_end`: the same writes plus one fdatasync at the end,
//!   - `write_fdatasync_each`: fdatasync after every 1 MiB write;
//! * `sendfile_loopback`: sendfile(2) of a page-cached file in the data dir
//!   over a 127.0.0.1 TCP connection to a thread that reads and discards.
//!
//! Each test stops at a byte bound or a time bound, whichever comes first.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

const CHUNK: usize = 1 << 20;

#[derive(Debug, Serialize)]
pub struct Measure {
    pub bytes: u64,
    pub seconds: f64,
    pub mb_per_s: f64,
}

impl Measure {
    fn new(bytes: u64, seconds: f64) -> Self {
        Measure { bytes, seconds, mb_per_s: bytes as f64 / seconds / 1e6 }
    }
}

#[derive(Debug, Serialize)]
pub struct Ceilings {
    pub dir: String,
    pub method: &'static str,
    pub write_pagecache: Measure,
    pub write_fsync_end: Measure,
    pub write_fdatasync_each: Measure,
    pub sendfile_loopback: Measure,
}

pub fn run(dir: &Path, max_bytes: u64, seconds: f64) -> anyhow::Result<Ceilings> {
    std::fs::create_dir_all(dir)?;
    let limit = Duration::from_secs_f64(seconds);
    let buf: Vec<u8> = (0..CHUNK).map(|i| (i * 31 % 251) as u8).collect();

    // 1. Buffered writes, then one fdatasync.
    let path = dir.join("ceiling-seq.bin");
    let mut f = OpenOptions::new().create(true).write(true).truncate(true).open(&path)?;
    let t0 = Instant::now();
    let mut written = 0u64;
    while written < max_bytes && t0.elapsed() < limit {
        f.write_all(&buf)?;
        written += CHUNK as u64;
    }
    let t_write = t0.elapsed().as_secs_f64();
    f.sync_data()?;
    let t_sync = t0.elapsed().as_secs_f64();
    eprintln!("[ceilings] wrote {} MiB: {:.2} s, +fdatasync {:.2} s", written >> 20, t_write, t_sync);
    let pagecache = Measure::new(written, t_write);
    let fsync_end = Measure::new(written, t_sync);

    // 2. fdatasync after every write.
    let path2 = dir.join("ceiling-sync.bin");
    let mut f2 = OpenOptions::new().create(true).write(true).truncate(true).open(&path2)?;
    let t0 = Instant::now();
    let mut w2 = 0u64;
    while w2 < max_bytes && t0.elapsed() < limit {
        f2.write_all(&buf)?;
        f2.sync_data()?;
        w2 += CHUNK as u64;
    }
    let each = Measure::new(w2, t0.elapsed().as_secs_f64());
    drop(f2);
    let _ = std::fs::remove_file(&path2);
    eprintln!("[ceilings] fdatasync each: {:.0} MB/s", each.mb_per_s);

    // 3. sendfile of the (page-cached) first file over loopback.
    let send = sendfile_loopback(&path, written.min(512 << 20), limit)?;
    eprintln!("[ceilings] sendfile loopback: {:.0} MB/s", send.mb_per_s);
    drop(f);
    let _ = std::fs::remove_file(&path);

    Ok(Ceilings {
        dir: dir.display().to_string(),
        method: "1 MiB write(2) buffers to one file: page cache = writes only; \
                 fsync at end = writes + one fdatasync; fdatasync each = fdatasync after \
                 every 1 MiB; sendfile = sendfile(2) of a page-cached file over a 127.0.0.1 \
                 TCP connection to a reader thread (1 MiB reads, discarded). MB = 10^6 bytes.",
        write_pagecache: pagecache,
        write_fsync_end: fsync_end,
        write_fdatasync_each: each,
        sendfile_loopback: send,
    })
}

fn sendfile_loopback(path: &Path, file_len: u64, limit: Duration) -> anyhow::Result<Measure> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<(u64, Instant)> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; CHUNK];
        let mut n = 0u64;
        loop {
            let r = s.read(&mut buf)?;
            if r == 0 {
                return Ok((n, Instant::now()));
            }
            n += r as u64;
        }
    });
    let file = std::fs::File::open(path)?;
    // Warm the page cache so the figure is about the copy to the socket.
    let mut warm = std::fs::File::open(path)?;
    let mut tmp = vec![0u8; CHUNK];
    let mut left = file_len;
    while left > 0 {
        let r = warm.read(&mut tmp)?;
        if r == 0 {
            break;
        }
        left = left.saturating_sub(r as u64);
    }
    let sock = TcpStream::connect(addr)?;
    let t0 = Instant::now();
    'outer: while t0.elapsed() < limit {
        let mut off: libc::off_t = 0;
        while (off as u64) < file_len {
            let want = ((file_len - off as u64) as usize).min(64 << 20);
            // SAFETY: both descriptors are open for the whole call; `off` is a valid pointer.
            let r = unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), &mut off, want) };
            if r < 0 {
                return Err(std::io::Error::last_os_error()).context("sendfile");
            }
            if r == 0 {
                break;
            }
            if t0.elapsed() >= limit {
                break 'outer;
            }
        }
    }
    sock.shutdown(std::net::Shutdown::Write)?;
    drop(sock);
    let (n, end) = reader.join().expect("reader thread panicked")?;
    Ok(Measure::new(n, end.duration_since(t0).as_secs_f64()))
}
