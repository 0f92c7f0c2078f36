//! Third-party decoders that panic on damaged files instead of returning an error.
//!
//! The fuzz targets found polars' Parquet decoder panicking (an `assertion left == right` in
//! dictionary decoding on a worker thread, an `unwrap` of "Thrift out of range") and calamine's
//! XLSX reader overflowing on a cell reference of many letters; calamine's ODS reader looping
//! forever on a missing end tag. [`catch`] runs such a decode, turns a panic into its message
//! for an error naming the file, and keeps the panic's own report off stderr (panics anywhere
//! else are reported as before); [`within`] bounds the time a decode may take.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

/// Source paths of the crates whose panics [`catch`] turns into errors.
const DECODERS: [&str; 5] = [
    "/polars-",
    "/calamine-",
    "/zip-",
    "/quick-xml-",
    "/quick_xml-",
];

/// Guarded decodes in progress, on any thread (polars decodes on its own worker threads).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static HOOK: Once = Once::new();

/// Chain a panic hook that is silent about panics raised in a decoder's source while a guarded
/// decode runs; every other panic goes to the previous hook.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_decoder = info
                .location()
                .is_some_and(|l| DECODERS.iter().any(|d| l.file().contains(d)));
            if !(in_decoder && ACTIVE.load(Ordering::SeqCst) > 0) {
                previous(info);
            }
        }));
    });
}

/// A panic's message on one line (assertion messages span several).
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "no message".into());
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Run `decode`; `Err` with the panic's message if it panicked.
pub(crate) fn catch<T>(decode: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    ACTIVE.fetch_add(1, Ordering::SeqCst);
    // The closure only builds values it returns; after a panic nothing of it is used again.
    let outcome = catch_unwind(AssertUnwindSafe(decode));
    ACTIVE.fetch_sub(1, Ordering::SeqCst);
    outcome.map_err(|panic| panic_text(panic.as_ref()))
}

/// Run `work` on a thread of its own and wait for it at most `limit`: `None` when it has not
/// finished by then (or no thread could be started).
///
/// For decoders that can loop forever on a damaged file (calamine's ODS reader does on a
/// missing `</table:table>`): the caller gets an error in bounded time, and the stuck thread is
/// left to end with the process, as a thread cannot be stopped from outside.
pub(crate) fn within<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("evomics-decode".into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .ok()?;
    rx.recv_timeout(limit).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_on_one_line() {
        let r: Result<(), String> = catch(|| panic!("assertion `left == right` failed\n  left: 0"));
        assert_eq!(r.unwrap_err(), "assertion `left == right` failed left: 0");
        assert_eq!(catch(|| 7), Ok(7));
    }

    #[test]
    fn work_past_its_deadline_is_given_up() {
        assert_eq!(within(Duration::from_secs(5), || 7), Some(7));
        let stuck = within(Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_secs(2));
            7
        });
        assert_eq!(stuck, None);
    }
}
