//! The file side of checkpoints: replacing a file so that a crash or a power loss leaves the
//! old version or the new one, never a mix or an empty file; and reading a regular file only,
//! no more than its size.
//!
//! Writing: the bytes go to a new file in the target's directory, which is flushed to disk
//! (`fsync`) and then renamed over the target, and the directory is flushed so that the rename
//! lasts too. A symbolic link is followed, so its target is replaced and the link kept (as
//! `open(path, "wb")` would). A new file gets the mode `0o666` less the umask, like any file a
//! program creates; a replaced file keeps its mode.
//!
//! A process killed while writing cannot clean up after itself, so on Linux the new file is
//! made without a name (`O_TMPFILE`): until it is complete it has no directory entry, and the
//! kernel frees it when the process dies. Only then is it given a temporary name
//! (`.<name>.<pid>.<n>.tmp`, a `linkat`) and renamed over the target, a window of two system
//! calls. Where `O_TMPFILE` is not available (other systems, some filesystems) the file is
//! written under that temporary name from the start, so a process killed mid-save there
//! leaves it behind, recognisable by its name; nothing deletes such files automatically, as
//! no process can tell another live writer's file from a dead one's.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The most symbolic links followed from the path given (Linux's own limit is 40).
const MAX_LINKS: usize = 40;

/// Replaces `path` (or, for a symbolic link, the file it points to) with the bytes `write`
/// produces, once; see the module docs.
pub(crate) fn replace(path: &Path, write: impl Fn(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let target = follow_links(path)?;
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mode = match fs::metadata(&target) {
        Ok(m) if m.is_file() => Some(m.permissions()),
        Ok(_) => return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let file_name = target.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let temp_name = |n: u64| {
        let mut name = std::ffi::OsString::from(".");
        name.push(file_name);
        name.push(format!(".{}.{n}.tmp", std::process::id()));
        dir.join(name)
    };
    let fill = |mut file: File| -> io::Result<File> {
        {
            let mut out = io::BufWriter::with_capacity(1 << 20, &mut file);
            write(&mut out)?;
            out.flush()?;
        }
        if let Some(mode) = &mode {
            file.set_permissions(mode.clone())?;
        }
        file.sync_all()?;
        Ok(file)
    };
    let temp = match nameless(&dir, fill, temp_name)? {
        Some(temp) => temp,
        None => named(fill, temp_name)?,
    };
    if let Err(e) = fs::rename(&temp, &target) {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    // Make the rename itself durable. Some filesystems cannot sync a directory; the data is
    // on disk either way.
    match File::open(&dir).and_then(|d| d.sync_all()) {
        Err(e) if !matches!(e.kind(), io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported) => Err(e),
        _ => Ok(()),
    }
}

/// A number for a temporary name, unique within the process.
fn next_number() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Writes with `fill` into a file that has no name until it is complete (`O_TMPFILE`), then
/// links it under a temporary name and returns that name. `Ok(None)` when the system or the
/// filesystem cannot do this, before anything is written.
#[cfg(target_os = "linux")]
fn nameless(
    dir: &Path,
    fill: impl Fn(File) -> io::Result<File>,
    temp_name: impl Fn(u64) -> PathBuf,
) -> io::Result<Option<PathBuf>> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::AsRawFd;

    let opened = OpenOptions::new().write(true).mode(0o666).custom_flags(libc::O_TMPFILE).open(dir);
    let Ok(file) = opened else { return Ok(None) };
    // Linking needs /proc (linkat with AT_EMPTY_PATH needs a privilege); check before writing.
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    if fs::symlink_metadata(&proc_path).is_err() {
        return Ok(None);
    }
    let file = fill(file)?;
    let from = CString::new(proc_path).expect("no NUL in a number");
    loop {
        let temp = temp_name(next_number());
        let to = CString::new(temp.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the path"))?;
        // SAFETY: both paths are NUL-terminated C strings that live across the call.
        let linked = unsafe {
            libc::linkat(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::AT_SYMLINK_FOLLOW)
        };
        if linked == 0 {
            drop(file);
            return Ok(Some(temp));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::AlreadyExists {
            return Err(e);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn nameless(_: &Path, _: impl Fn(File) -> io::Result<File>, _: impl Fn(u64) -> PathBuf) -> io::Result<Option<PathBuf>> {
    Ok(None)
}

/// Writes with `fill` into a new file under a temporary name, removed again on failure.
fn named(fill: impl Fn(File) -> io::Result<File>, temp_name: impl Fn(u64) -> PathBuf) -> io::Result<PathBuf> {
    loop {
        let temp = temp_name(next_number());
        match OpenOptions::new().write(true).create_new(true).mode(0o666).open(&temp) {
            Ok(file) => {
                return match fill(file) {
                    Ok(_) => Ok(temp),
                    Err(e) => {
                        let _ = fs::remove_file(&temp);
                        Err(e)
                    }
                };
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `path` with its symbolic links followed to the file they name (which may not exist yet).
fn follow_links(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&path)?;
                path = match path.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(io::Error::new(io::ErrorKind::InvalidInput, format!("more than {MAX_LINKS} symbolic links")))
}

/// The bytes of a regular file, no more than the size it had when opened. A FIFO, a device
/// (`/dev/zero`), a socket or a directory is an error, and opening one never blocks.
pub(crate) fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. It changes
    // nothing for a regular file.
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let size = meta.len();
    let mut bytes = Vec::new();
    let capacity = usize::try_from(size).map_err(|_| io::ErrorKind::OutOfMemory)?;
    bytes.try_reserve_exact(capacity).map_err(|_| io::ErrorKind::OutOfMemory)?;
    file.take(size).read_to_end(&mut bytes)?;
    Ok(bytes)
}
