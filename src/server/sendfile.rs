//! `sendfile(2)` of a segment file range onto a non-blocking tokio socket.

use std::io;

use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::log::FileRange;

/// Sends `range` from its file straight to the socket; the record bytes stay
/// in the kernel (page cache → socket buffer).
pub async fn send_file_range(socket: &TcpStream, range: &FileRange) -> io::Result<()> {
    let end = range.position + range.len;
    let mut position = range.position;
    while position < end {
        socket.writable().await?;
        let result = socket.try_io(Interest::WRITABLE, || {
            let mut offset = i64::try_from(position).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "file offset too large")
            })?;
            let count = usize::try_from(end - position).unwrap_or(usize::MAX);
            nix::sys::sendfile::sendfile(socket, &*range.file, Some(&mut offset), count)
                .map_err(io::Error::from)
        });
        match result {
            Ok(0) => {
                // The file is shorter than the range we promised in the size
                // prefix: the frame can't be completed, so the connection must end.
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment file ended before the fetched range",
                ));
            }
            Ok(sent) => position += sent as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
