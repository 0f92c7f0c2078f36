//! Third-party decoders that panic on damaged files instead of returning an error.
//!
//! The fuzz targets found polars' Parquet decoder panicking (an `assertion left == right` in
//! dictionary decoding on a worker thread, an `unwrap` of "Thrift out of range") and calamine's
//! XLSX reader overflowing on a cell reference of many letters. [`catch`] runs such a decode,
//! turns a panic into its message for an error naming the file, and keeps the panic's own report
//! off stderr; panics anywhere else are reported as before.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_on_one_line() {
        let r: Result<(), String> = catch(|| panic!("assertion `left == right` failed\n  left: 0"));
        assert_eq!(r.unwrap_err(), "assertion `left == right` failed left: 0");
        assert_eq!(catch(|| 7), Ok(7));
    }
}
