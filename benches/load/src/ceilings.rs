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
//!
//! Before them, [`warm`] fills the page cache with a sparse file and keeps
//! it there. This machine is a virtual machine whose host backs guest memory
//! lazily and takes freed memory back (virtio-balloon free page reporting):
//! the first touch of a page costs a host fault. Page-cache writes into
//! never-touched memory ran at ~430 MB/s here, the same 2 GiB rewritten at
//! once at 5.6 GB/s (`dd`), so a broker receiving records pays the host on
//! every new page-cache page. A server that has run for a while has its
//! memory full of page cache, and new pages come from reclaiming old ones;
//! the warm file recreates that state: its clean pages stay cached (never
//! free, so never given back to the host) until the broker's writes reclaim
//! them. The rate of the fill (first touch) is reported beside the ceilings.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
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
        Measure {
            bytes,
            seconds,
            mb_per_s: bytes as f64 / seconds / 1e6,
        }
    }
}

/// The page-cache fill of [`warm`]: bytes read from the sparse warm file
/// that were not cached yet, and how fast (the first touch of that memory).
#[derive(Debug, Serialize)]
pub struct WarmFill {
    pub file: String,
    pub file_bytes: u64,
    pub fill: Measure,
}

#[derive(Debug, Serialize)]
pub struct Ceilings {
    pub dir: String,
    pub method: &'static str,
    pub warm_memory: Option<WarmFill>,
    pub write_pagecache: Measure,
    pub write_fsync_end: Measure,
    pub write_fdatasync_each: Measure,
    /// The best of `sendfile_by_read_size`.
    pub sendfile_loopback: Measure,
    pub sendfile_by_read_size: Vec<SendfileRun>,
}

#[derive(Debug, Serialize)]
pub struct SendfileRun {
    pub read_bytes: usize,
    pub measure: Measure,
}

/// Receive buffer sizes tried for the sendfile ceiling, bytes: the reader's
/// copy out of the socket runs faster when its buffer stays in the CPU's
/// cache (64 KiB: 2.8-3.7 GB/s here, 1 MiB: 2.0-2.5 GB/s), and a client
/// reading whole fetch responses uses large buffers.
const SENDFILE_READ_SIZES: &[usize] = &[64 << 10, 1 << 20];

pub fn run(
    dir: &Path,
    max_bytes: u64,
    seconds: f64,
    warm_file: Option<&Path>,
) -> anyhow::Result<Ceilings> {
    std::fs::create_dir_all(dir)?;
    let warm_memory = warm_file.map(warm).transpose()?;
    let limit = Duration::from_secs_f64(seconds);
    let buf: Vec<u8> = (0..CHUNK).map(|i| (i * 31 % 251) as u8).collect();

    // 1. Buffered writes, then one fdatasync.
    let path = dir.join("ceiling-seq.bin");
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)?;
    let t0 = Instant::now();
    let mut written = 0u64;
    while written < max_bytes && t0.elapsed() < limit {
        f.write_all(&buf)?;
        written += CHUNK as u64;
    }
    let t_write = t0.elapsed().as_secs_f64();
    f.sync_data()?;
    let t_sync = t0.elapsed().as_secs_f64();
    eprintln!(
        "[ceilings] wrote {} MiB: {:.2} s, +fdatasync {:.2} s",
        written >> 20,
        t_write,
        t_sync
    );
    let pagecache = Measure::new(written, t_write);
    let fsync_end = Measure::new(written, t_sync);

    // 2. fdatasync after every write.
    let path2 = dir.join("ceiling-sync.bin");
    let mut f2 = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path2)?;
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

    // 3. sendfile of the (page-cached) first file over loopback, read with
    //    each of SENDFILE_READ_SIZES; the best is the ceiling.
    let mut sendfile_by_read_size = Vec::new();
    for &read_bytes in SENDFILE_READ_SIZES {
        let m = sendfile_loopback(&path, written.min(512 << 20), limit / 2, read_bytes)?;
        eprintln!(
            "[ceilings] sendfile loopback, {} KiB reads: {:.0} MB/s",
            read_bytes >> 10,
            m.mb_per_s
        );
        sendfile_by_read_size.push(SendfileRun {
            read_bytes,
            measure: m,
        });
    }
    let best = sendfile_by_read_size
        .iter()
        .map(|r| &r.measure)
        .max_by(|a, b| a.mb_per_s.total_cmp(&b.mb_per_s))
        .expect("at least one read size");
    let send = Measure::new(best.bytes, best.seconds);
    drop(f);
    let _ = std::fs::remove_file(&path);

    Ok(Ceilings {
        dir: dir.display().to_string(),
        warm_memory,
        method: "page cache filled first with a sparse warm file (all available memory but \
                 2 GiB, up to 20 GiB), kept for the whole run; 1 MiB write(2) buffers to one file: page cache = writes only; \
                 fsync at end = writes + one fdatasync; fdatasync each = fdatasync after \
                 every 1 MiB; sendfile = sendfile(2) of a page-cached file over a 127.0.0.1 \
                 TCP connection to a reader thread (64 KiB and 1 MiB reads, discarded; the better \
                 is the ceiling). MB = 10^6 bytes.",
        write_pagecache: pagecache,
        write_fsync_end: fsync_end,
        write_fdatasync_each: each,
        sendfile_loopback: send,
        sendfile_by_read_size,
    })
}

fn sendfile_loopback(
    path: &Path,
    file_len: u64,
    limit: Duration,
    read_bytes: usize,
) -> anyhow::Result<Measure> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<(u64, Instant)> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; read_bytes];
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

/// Memory the warm file leaves available, bytes (the broker's and the
/// client's own memory, and room for the kernel).
const WARM_RESERVE_BYTES: u64 = 2 << 30;
/// Upper bound of the warm file, bytes (a 20 GiB first fill takes ~45 s here).
const WARM_MAX_BYTES: u64 = 20 << 30;

/// Fills the page cache with `path`, a sparse file (no disk space, no disk
/// IO: holes read as zero pages, which stay cached and clean) sized to the
/// available memory less `WARM_RESERVE_BYTES` when first made. Run again
/// before each broker and each workload: pages reclaimed since are read back
/// in; the file is left in place for the caller to delete after the run.
pub fn warm(path: &Path) -> anyhow::Result<WarmFill> {
    let existing = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let len = if existing > 0 {
        existing
    } else {
        (meminfo_kib("MemAvailable:")? * 1024)
            .saturating_sub(WARM_RESERVE_BYTES)
            .min(WARM_MAX_BYTES)
    };
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    f.set_len(len)?;
    let before = meminfo_kib("Cached:")?;
    let t0 = Instant::now();
    let r = std::fs::File::open(path)?;
    let mut buf = vec![0u8; CHUNK];
    for chunk in uncached_chunks(&r, len)? {
        let off = chunk * CHUNK as u64;
        let want = ((len - off) as usize).min(CHUNK);
        r.read_exact_at(&mut buf[..want], off)?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let filled = meminfo_kib("Cached:")?.saturating_sub(before) * 1024;
    let fill = Measure::new(filled, secs);
    eprintln!(
        "[warm] {} MiB warm file {}: {} MiB newly cached in {:.1} s ({:.0} MB/s)",
        len >> 20,
        path.display(),
        filled >> 20,
        secs,
        fill.mb_per_s
    );
    Ok(WarmFill {
        file: path.display().to_string(),
        file_bytes: len,
        fill,
    })
}

/// Indexes of the `CHUNK`-sized pieces of `f` (`len` bytes) with at least one
/// page not in the page cache (`mincore` of a read-only mapping): a top-up
/// reads only those, not 20 GiB of cached pages (3-11 s per top-up here).
fn uncached_chunks(f: &std::fs::File, len: u64) -> anyhow::Result<Vec<u64>> {
    if len == 0 {
        return Ok(vec![]);
    }
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    // SAFETY: a fresh read-only shared mapping of an open file, never
    // dereferenced here, unmapped below.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len as usize,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error()).context("mmap of the warm file");
    }
    let mut resident = vec![0u8; len.div_ceil(page) as usize];
    // SAFETY: `resident` has one byte per page of the mapping.
    let rc = unsafe { libc::mincore(addr, len as usize, resident.as_mut_ptr()) };
    let err = std::io::Error::last_os_error();
    // SAFETY: the mapping made above, with its length.
    unsafe { libc::munmap(addr, len as usize) };
    if rc != 0 {
        return Err(err).context("mincore of the warm file");
    }
    let per_chunk = (CHUNK as u64 / page) as usize;
    Ok(resident
        .chunks(per_chunk)
        .enumerate()
        .filter(|(_, pages)| pages.iter().any(|&p| p & 1 == 0))
        .map(|(i, _)| i as u64)
        .collect())
}

/// A `/proc/meminfo` field (`key` with its colon), KiB.
fn meminfo_kib(key: &str) -> anyhow::Result<u64> {
    std::fs::read_to_string("/proc/meminfo")?
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("{key} in /proc/meminfo"))
}
