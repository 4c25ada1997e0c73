//! Pictures in the terminal: the CAPTCHA (a PNG from the server) and the TOTP enrolment QR code,
//! drawn with Unicode half-blocks (`▀`, `▄`, `█`), two pixel rows per text row.
//!
//! Both are drawn for a terminal with light text on a dark background (the common case): a lit
//! half-block is "light". The QR code therefore draws its light modules and its quiet zone as
//! blocks and leaves the dark modules blank, so a phone sees a normal (dark-on-light) code
//! framed by the lit quiet zone — the rendering `qrcode`'s own documentation shows for
//! `Dense1x2`. The CAPTCHA draws its ink (the letters) as blocks: legible either way round.
//! When the picture is not legible enough (a small terminal, a font without these glyphs), the
//! CAPTCHA is also saved as a PNG ([`save_private_png`]) whose path is printed.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

/// The glyph of a (top, bottom) pair of pixels, `true` = lit.
fn glyph(top: bool, bottom: bool) -> char {
    match (top, bottom) {
        (false, false) => ' ',
        (true, false) => '▀',
        (false, true) => '▄',
        (true, true) => '█',
    }
}

/// A bitmap as half-block text: `rows` of equal width, two rows per line.
pub fn blocks(bits: &[Vec<bool>]) -> String {
    let mut lines = Vec::with_capacity(bits.len().div_ceil(2));
    for pair in bits.chunks(2) {
        let top = &pair[0];
        let line: String = top
            .iter()
            .enumerate()
            .map(|(x, &t)| glyph(t, pair.get(1).is_some_and(|b| b[x])))
            .collect();
        lines.push(line);
    }
    lines.join("\n")
}

/// Decoded pixels as "ink" values: 0.0 = paper, 1.0 = darkest ink (1 − the HSV value, the
/// brightest channel, so saturated dark ink of any hue counts as dark).
struct Grey {
    w: usize,
    h: usize,
    ink: Vec<f32>,
}

/// The largest CAPTCHA side accepted, in pixels.
const MAX_CAPTCHA_SIDE: u32 = 2048;

fn decode_png(png_bytes: &[u8]) -> Result<Grey> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .context("the CAPTCHA is not a PNG image")?;
    // The png crate's limits cover its own buffers, not this one: a tiny file declaring
    // 100000×100000 pixels must be refused before it is allocated (the server's is 260×90).
    let (iw, ih) = reader.info().size();
    if iw > MAX_CAPTCHA_SIDE || ih > MAX_CAPTCHA_SIDE {
        anyhow::bail!("the CAPTCHA image is too large ({iw}×{ih} pixels)");
    }
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .context("the CAPTCHA image is damaged")?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => anyhow::bail!("unexpected indexed PNG after expansion"),
    };
    let data = &buf[..info.buffer_size()];
    if w == 0 || h == 0 || data.len() < w * h * channels {
        anyhow::bail!("the CAPTCHA image is empty");
    }
    let ink = data
        .chunks_exact(channels)
        .take(w * h)
        .map(|px| {
            let (value, alpha) = match channels {
                1 => (px[0], 255),
                2 => (px[0], px[1]),
                3 => (px[0].max(px[1]).max(px[2]), 255),
                _ => (px[0].max(px[1]).max(px[2]), px[3]),
            };
            // Transparent pixels are paper.
            let v = f32::from(value) / 255.0;
            let a = f32::from(alpha) / 255.0;
            (1.0 - v) * a
        })
        .collect();
    Ok(Grey { w, h, ink })
}

/// The ink threshold: Parley's CAPTCHA ink is dark (HSV value ≤ 0.35, ink ≥ 0.65) over paler
/// scribbles (ink ≤ 0.60); other images get the midpoint of their darkest and palest pixels.
fn threshold(g: &Grey) -> f32 {
    const PARLEY_INK: f32 = 0.62;
    let dark = g.ink.iter().filter(|&&v| v >= PARLEY_INK).count();
    if dark * 100 >= g.ink.len() {
        return PARLEY_INK;
    }
    let (lo, hi) = g
        .ink
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    (lo + hi) / 2.0
}

/// The CAPTCHA as half-block text at most `max_cols` wide: grey-scaled, scaled down (each
/// cell lit when enough of its source pixels are ink), two pixel rows per text row.
pub fn captcha_blocks(png_bytes: &[u8], max_cols: usize) -> Result<String> {
    let g = decode_png(png_bytes)?;
    let t = threshold(&g);
    let cols = max_cols.clamp(8, g.w.max(8)).min(g.w);
    let scale = g.w as f32 / cols as f32;
    // Terminal cells are about twice as tall as wide; two pixel rows per cell keep the aspect.
    let rows = ((g.h as f32 / scale).round() as usize).max(2);
    let bits: Vec<Vec<bool>> = (0..rows)
        .map(|y| {
            // min/max, never clamp: a server's 1-pixel-high image must not panic (clamp does
            // when its bounds cross).
            let y0 = ((y as f32 * scale) as usize).min(g.h - 1);
            let y1 = (((y + 1) as f32 * scale) as usize).min(g.h).max(y0 + 1);
            (0..cols)
                .map(|x| {
                    let x0 = ((x as f32 * scale) as usize).min(g.w - 1);
                    let x1 = (((x + 1) as f32 * scale) as usize).min(g.w).max(x0 + 1);
                    let (mut inked, mut total) = (0usize, 0usize);
                    for yy in y0..y1 {
                        for xx in x0..x1 {
                            total += 1;
                            if g.ink[yy * g.w + xx] >= t {
                                inked += 1;
                            }
                        }
                    }
                    total > 0 && inked * 10 >= total * 3
                })
                .collect()
        })
        .collect();
    // The image's empty margins above and below cost lines and say nothing: keep one blank
    // pixel row on each side of the ink.
    let first = bits.iter().position(|r| r.iter().any(|&b| b));
    let last = bits.iter().rposition(|r| r.iter().any(|&b| b));
    let bits = match (first, last) {
        (Some(f), Some(l)) => &bits[f.saturating_sub(1)..(l + 2).min(bits.len())],
        _ => &bits[..],
    };
    Ok(blocks(bits))
}

/// The QR code of `text` (the `otpauth://` URI) as half-block text with its quiet zone, for a
/// dark terminal (see the module's documentation).
pub fn qr_blocks(text: &str) -> Result<String> {
    let code = QrCode::new(text.as_bytes()).context("the text does not fit in a QR code")?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// A private directory (0700) for pictures shown to the user, removed when dropped.
pub struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// A new directory under the system's temporary directory.
    pub fn new() -> Result<PrivateDir> {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let name = format!(
            "parley-chat-{}-{}",
            std::process::id(),
            data_encoding::HEXLOWER.encode(&random)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(PrivateDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Write `png` to `dir/name` with mode 0600 (replacing an older picture of the same name); its
/// path.
pub fn save_private_png(dir: &PrivateDir, name: &str, png: &[u8]) -> Result<PathBuf> {
    let path = dir.path().join(name);
    let _ = std::fs::remove_file(&path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(png)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The bytes of a `data:image/png;base64,…` URI.
pub fn data_uri_bytes(uri: &str) -> Result<Vec<u8>> {
    let (head, b64) = uri
        .split_once(',')
        .context("the CAPTCHA image is not a data: URI")?;
    if !head.starts_with("data:") || !head.ends_with(";base64") {
        anyhow::bail!("the CAPTCHA image is not a base64 data: URI");
    }
    data_encoding::BASE64
        .decode(b64.trim().as_bytes())
        .context("the CAPTCHA image's base64 is damaged")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Half-block text back to pixels (the inverse of [`blocks`]).
    fn unblock(s: &str) -> Vec<Vec<bool>> {
        let mut rows = Vec::new();
        for line in s.lines() {
            let (mut top, mut bottom) = (Vec::new(), Vec::new());
            for c in line.chars() {
                let (t, b) = match c {
                    ' ' => (false, false),
                    '▀' => (true, false),
                    '▄' => (false, true),
                    '█' => (true, true),
                    other => panic!("unexpected {other:?}"),
                };
                top.push(t);
                bottom.push(b);
            }
            rows.push(top);
            rows.push(bottom);
        }
        rows
    }

    #[test]
    fn qr_has_the_code_inside_a_lit_quiet_zone() {
        let uri = "otpauth://totp/Parley:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Parley&algorithm=SHA1&digits=6&period=30";
        let art = qr_blocks(uri).expect("qr");
        let code = QrCode::new(uri.as_bytes()).expect("qr");
        let n = code.width();
        let side = n + 8; // 4 modules of quiet zone on each side
        let lines: Vec<&str> = art.lines().collect();
        assert_eq!(lines.len(), side.div_ceil(2), "two module rows per line");
        for l in &lines {
            assert_eq!(l.chars().count(), side, "every line is as wide as the code");
        }
        let px = unblock(&art);
        // Quiet zone: lit (light) all round.
        for (y, row) in px.iter().enumerate().take(side) {
            for (x, &lit) in row.iter().enumerate() {
                if x < 4 || y < 4 || x >= n + 4 || y >= n + 4 {
                    assert!(lit, "quiet zone at ({x},{y}) is light");
                }
            }
        }
        // The modules: dark module = unlit cell, exactly the code's matrix.
        let colors = code.to_colors();
        for y in 0..n {
            for x in 0..n {
                let dark = colors[y * n + x] == qrcode::Color::Dark;
                assert_eq!(!px[y + 4][x + 4], dark, "module ({x},{y})");
            }
        }
    }

    fn png_of(w: u32, h: u32, rgb: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().expect("header");
            writer.write_image_data(rgb).expect("data");
        }
        out
    }

    #[test]
    fn captcha_draws_dark_ink_and_scales_down() {
        // 200×60 pale paper, a mid-grey scribble row (not ink) and a dark-red bar (ink) in the
        // left half of rows 20..40.
        let (w, h) = (200u32, 60u32);
        let mut rgb = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let px = if (20..40).contains(&y) && x < 100 {
                    [89, 0, 0]
                } else if y == 50 {
                    [120, 120, 120]
                } else {
                    [240, 235, 230]
                };
                rgb.extend_from_slice(&px);
            }
        }
        let art = captcha_blocks(&png_of(w, h, &rgb), 50).expect("draw");
        let lines: Vec<&str> = art.lines().collect();
        assert!(lines.iter().all(|l| l.chars().count() == 50), "{art}");
        // 200 px → 50 columns: scale 4, 60 px → 15 pixel rows; the bar is rows 5..10, kept
        // with one blank row each side (4..11) → 7 pixel rows → 4 lines.
        assert_eq!(lines.len(), 4, "{art}");
        let px = unblock(&art);
        assert!(px[0].iter().all(|&b| !b), "one blank row above the ink");
        assert!(px[1][10] && px[5][10], "the bar is drawn");
        assert!(!px[3][40], "paper is blank");
        assert!(px[6].iter().all(|&b| !b), "one blank row below");
    }

    #[test]
    fn captcha_never_wider_than_asked() {
        let rgb = vec![30u8; 10 * 4 * 3];
        let art = captcha_blocks(&png_of(10, 4, &rgb), 100).expect("draw");
        assert!(art.lines().all(|l| l.chars().count() == 10));
    }

    /// A hostile server's images: one pixel high (the row bounds once crossed and panicked),
    /// two pixels high and wide, and a tiny file declaring a huge image (refused before the
    /// buffer is allocated).
    #[test]
    fn odd_and_huge_captchas_are_errors_or_drawings_never_panics() {
        assert!(captcha_blocks(&png_of(10, 1, &[30; 30]), 100).is_ok());
        assert!(captcha_blocks(&png_of(200, 2, &vec![30; 200 * 2 * 3]), 100).is_ok());
        assert!(captcha_blocks(&png_of(1, 1, &[30; 3]), 100).is_ok());
        let mut huge = png_of(1, 1, &[30; 3]);
        // IHDR's width and height (bytes 16..24) say 100000×100000, with the chunk's CRC
        // recomputed as a hostile encoder would.
        huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&huge[12..29]);
        huge[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = captcha_blocks(&huge, 80).expect_err("refused");
        assert!(err.to_string().contains("too large"), "{err:#}");
    }

    /// CRC-32 (PNG's chunk checksum).
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn not_a_png_is_an_error() {
        assert!(captcha_blocks(b"GIF89a", 80).is_err());
    }

    #[test]
    fn data_uris() {
        assert_eq!(
            data_uri_bytes("data:image/png;base64,AAEC").expect("ok"),
            vec![0, 1, 2]
        );
        assert!(data_uri_bytes("https://example/x.png").is_err());
    }
}
