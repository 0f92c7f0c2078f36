//! A minimal PNG writer for indexed-colour images (PNG specification, ISO/IEC 15948:2004):
//! signature, `IHDR`, `PLTE`, one zlib-compressed `IDAT`, `IEND`. Used where an SVG element per
//! cell would make the report too large (a sample × sample matrix of hundreds of samples).

use std::io::Write as _;

use flate2::write::ZlibEncoder;
use flate2::{Compression, Crc};

/// An 8-bit indexed PNG of `width` × `height` pixels: `pixels` holds one palette index per
/// pixel, row by row. Deterministic: the same pixels give the same bytes.
///
/// Panics never: an index beyond the palette is clamped to its last entry, and sizes that do
/// not match are padded with the last entry (callers pass matching sizes).
pub(crate) fn indexed(width: u32, height: u32, palette: &[[u8; 3]], pixels: &[u8]) -> Vec<u8> {
    let last = palette.len().saturating_sub(1).min(255) as u8;
    let mut raw = Vec::with_capacity((width as usize + 1) * height as usize);
    for row in 0..height as usize {
        // Filter type 0 (none) for every scanline.
        raw.push(0);
        for col in 0..width as usize {
            let i = pixels
                .get(row * width as usize + col)
                .copied()
                .unwrap_or(last);
            raw.push(i.min(last));
        }
    }
    let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
    // Writing to a Vec cannot fail.
    let _ = z.write_all(&raw);
    let data = z.finish().unwrap_or_default();

    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // Bit depth 8, colour type 3 (indexed), deflate, adaptive filtering, no interlace.
    ihdr.extend_from_slice(&[8, 3, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let plte: Vec<u8> = palette.iter().take(256).flatten().copied().collect();
    chunk(&mut out, b"PLTE", &plte);
    chunk(&mut out, b"IDAT", &data);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Palette index of a missing cell in [`scale_palette`].
pub(crate) const NA_INDEX: u8 = 255;

/// A continuous colour scale as 255 palette entries (`colour(k / 254)` for k = 0..=254) and
/// the missing-cell grey at [`NA_INDEX`]: finer steps than the eye separates.
pub(crate) fn scale_palette(colour: impl Fn(f64) -> String) -> Vec<[u8; 3]> {
    let mut out: Vec<[u8; 3]> = (0..255)
        .map(|k| hex_rgb(&colour(f64::from(k) / 254.0)))
        .collect();
    out.push([0xE0, 0xE0, 0xE0]);
    out
}

/// The palette index of `t` in [0, 1] (clamped) in a [`scale_palette`].
pub(crate) fn scale_index(t: f64) -> u8 {
    (t.clamp(0.0, 1.0) * 254.0).round() as u8
}

/// `#rrggbb` as bytes (black for anything else).
pub(crate) fn hex_rgb(s: &str) -> [u8; 3] {
    let byte = |k: usize| {
        s.get(1 + 2 * k..3 + 2 * k)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0)
    };
    [byte(0), byte(1), byte(2)]
}

/// Appends one chunk: length, type, data, CRC-32 of type and data.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn png_has_valid_chunks_and_round_trips_its_pixels() {
        let palette = [[0, 0, 0], [255, 255, 255], [10, 20, 30]];
        let pixels = [0, 1, 2, 2, 1, 0];
        let png = indexed(3, 2, &palette, &pixels);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // Walk the chunks, checking every CRC.
        let mut at = 8;
        let mut kinds = Vec::new();
        let mut idat = Vec::new();
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let kind = &png[at + 4..at + 8];
            let data = &png[at + 8..at + 8 + len];
            let mut crc = Crc::new();
            crc.update(kind);
            crc.update(data);
            let stored = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            assert_eq!(crc.sum(), stored);
            kinds.push(String::from_utf8(kind.to_vec()).unwrap());
            if kind == b"IDAT" {
                idat.extend_from_slice(data);
            }
            at += 12 + len;
        }
        assert_eq!(kinds, ["IHDR", "PLTE", "IDAT", "IEND"]);
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&idat[..])
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(raw, [0, 0, 1, 2, 0, 2, 1, 0]);
        assert_eq!(indexed(3, 2, &palette, &pixels), png, "deterministic");
    }

    #[test]
    fn scale_palette_spans_the_scale_and_ends_in_grey() {
        let p = scale_palette(|t| {
            if t < 0.5 {
                "#000000".into()
            } else {
                "#FF8000".into()
            }
        });
        assert_eq!(p.len(), 256);
        assert_eq!(p[0], [0, 0, 0]);
        assert_eq!(p[254], [255, 128, 0]);
        assert_eq!(p[usize::from(NA_INDEX)], [0xE0, 0xE0, 0xE0]);
        assert_eq!(
            (scale_index(-1.0), scale_index(0.5), scale_index(2.0)),
            (0, 127, 254)
        );
    }
}
