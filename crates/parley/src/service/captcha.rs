//! CAPTCHAs (A4, §5.2.2; issue 14 item 1): a distorted PNG drawn on the server, and the same
//! challenge spoken as a WAV for people who cannot see it (WCAG 1.1.1) — no outside service.
//!
//! **Readable by people.** The alphabet has no look-alikes (no 0/O/o/Q, 1/I/l/i, 2/Z/z/r,
//! 5/S, 8/B, U/V, 6/G, 9/g/q, r/z...): upper-case letters and digits that keep their shape under
//! the distortion (Y went after a reader took a leaning X for it), and the answer is compared
//! case-insensitively with spaces and dashes ignored.
//! Each glyph is a solid, dark outline of a real font (five free fonts, subset to the alphabet,
//! under `assets/captcha/fonts/`), and nothing is drawn over the strokes.
//!
//! **Hard for plain OCR.** Per glyph: a different font, size, rotation, shear and colour; the
//! glyphs crowd into each other (no clean gaps to segment on); the whole line follows a wave;
//! the background carries mid-grey curves and blotches *behind* the glyphs (they never cross a
//! stroke, but they survive binarisation and join the glyphs for a machine).
//! `scripts/captcha-ocr.sh` measures plain tesseract against it (docs/security.md).
//!
//! **Storage.** Only a hash of the answer is kept for the check, plus the answer sealed under the
//! server key (AES-256-GCM, bound to the challenge id) so that the audio version can be made on
//! demand; the answer itself is never sent. A challenge expires in five minutes and is consumed
//! by the first request that checks it (see `Accounts::check_captcha`).

use ab_glyph::{Font, FontRef, OutlineCurve};
use ab_glyph_rasterizer::{Point, Rasterizer, point};
use base64::Engine;
use rand::Rng;

use super::crypto::{random_id, token_hash};

pub use parley_api::limits::CAPTCHA_TTL_SECS as TTL_SECS;
/// The symbols a challenge is made of: no two look alike, in any of the fonts.
pub const ALPHABET: &str = "ACDEFHJKLMNPRTWX34679";
/// Symbols per challenge: 21⁵ ≈ 4.1 million answers.
pub use parley_api::limits::CAPTCHA_LENGTH as LENGTH;
pub const WIDTH: u32 = 260;
pub const HEIGHT: u32 = 90;

const FONTS: [&[u8]; 5] = [
    include_bytes!("../../assets/captcha/fonts/DejaVuSans-Bold-subset.ttf"),
    include_bytes!("../../assets/captcha/fonts/DejaVuSerif-Bold-subset.ttf"),
    include_bytes!("../../assets/captcha/fonts/DejaVuSansMono-Bold-subset.ttf"),
    include_bytes!("../../assets/captcha/fonts/NotoSans-Bold-subset.ttf"),
    include_bytes!("../../assets/captcha/fonts/NotoSerif-Bold-subset.ttf"),
];

pub struct Challenge {
    pub id: String,
    /// What the image shows and the audio says (the accepted answer, except under the
    /// test-only override).
    pub answer: String,
    pub answer_hash: String,
    pub png_data_uri: String,
}

/// Make a challenge. `fixed_answer` is the test-only override (`test_captcha_answer`); the
/// image still shows a random answer then, so tests cannot read it from the picture.
pub fn new_challenge(fixed_answer: Option<&str>) -> anyhow::Result<Challenge> {
    let text = random_answer();
    let png = render_png(&text)?;
    let accepted = fixed_answer
        .map(str::to_owned)
        .unwrap_or_else(|| text.clone());
    Ok(Challenge {
        id: random_id(),
        answer_hash: answer_hash(&accepted),
        answer: text,
        png_data_uri: format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(png)
        ),
    })
}

pub fn random_answer() -> String {
    answer_from(&mut rand::rng())
}

fn answer_from(rng: &mut impl Rng) -> String {
    let symbols: Vec<char> = ALPHABET.chars().collect();
    (0..LENGTH)
        .map(|_| symbols[rng.random_range(0..symbols.len())])
        .collect()
}

/// What is compared: upper case, with spaces, dashes and commas ignored (people who listen to
/// the audio often type "K 7 M ...").
pub fn normalize_answer(answer: &str) -> String {
    answer
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | ',' | '.'))
        .flat_map(char::to_uppercase)
        .collect()
}

pub fn answer_hash(answer: &str) -> String {
    token_hash(&normalize_answer(answer))
}

// ---- image ---------------------------------------------------------------------------------

struct Canvas {
    w: u32,
    h: u32,
    rgb: Vec<[f32; 3]>,
}

impl Canvas {
    fn blend(&mut self, x: u32, y: u32, colour: [f32; 3], alpha: f32) {
        if x >= self.w || y >= self.h {
            return;
        }
        let a = alpha.clamp(0.0, 1.0);
        let px = &mut self.rgb[(y * self.w + x) as usize];
        for (p, c) in px.iter_mut().zip(colour) {
            *p = *p * (1.0 - a) + c * a;
        }
    }

    /// Fill a closed shape given as a rasterizer already drawn on.
    fn fill(&mut self, r: &Rasterizer, colour: [f32; 3], opacity: f32) {
        r.for_each_pixel_2d(|x, y, a| {
            if a > 0.0 {
                self.blend(x, y, colour, a * opacity)
            }
        });
    }
}

/// The rasterizer must never be given a point outside its canvas (it overflows): shapes that
/// reach past an edge are flattened onto it.
fn clip(p: Point) -> Point {
    point(
        p.x.clamp(0.0, WIDTH as f32 - 0.01),
        p.y.clamp(0.0, HEIGHT as f32 - 0.01),
    )
}

/// A closed band along a sine curve, `thick` pixels wide: the background scribbles.
fn band(r: &mut Rasterizer, pts: &[Point], thick: f32) {
    let up: Vec<Point> = pts.iter().map(|p| point(p.x, p.y - thick / 2.0)).collect();
    let down: Vec<Point> = pts
        .iter()
        .rev()
        .map(|p| point(p.x, p.y + thick / 2.0))
        .collect();
    let ring: Vec<Point> = up.into_iter().chain(down).collect();
    for i in 0..ring.len() {
        r.draw_line(clip(ring[i]), clip(ring[(i + 1) % ring.len()]));
    }
}

fn ellipse(r: &mut Rasterizer, cx: f32, cy: f32, rx: f32, ry: f32) {
    let n = 24;
    let at = |i: usize| {
        let t = i as f32 / n as f32 * std::f32::consts::TAU;
        point(cx + rx * t.cos(), cy + ry * t.sin())
    };
    for i in 0..n {
        r.draw_line(clip(at(i)), clip(at(i + 1)));
    }
}

pub fn render_png(text: &str) -> anyhow::Result<Vec<u8>> {
    render_png_with(text, &mut rand::rng())
}

/// The image of `text`, every random choice drawn from `rng` (seeded for repeatable samples).
fn render_png_with(text: &str, rng: &mut impl Rng) -> anyhow::Result<Vec<u8>> {
    let (w, h) = (WIDTH, HEIGHT);
    // Pale paper with a random tint.
    let tint = [
        rng.random_range(0.90..0.99),
        rng.random_range(0.90..0.99),
        rng.random_range(0.90..0.99),
    ];
    let mut canvas = Canvas {
        w,
        h,
        rgb: vec![tint; (w * h) as usize],
    };

    // Background, drawn first so that it never covers a stroke: soft blotches, then mid-grey
    // wavy scribbles that run the width of the image (a machine's binariser keeps them and
    // they join the glyphs; a person sees them pass behind the letters).
    for _ in 0..6 {
        let mut r = Rasterizer::new(w as usize, h as usize);
        ellipse(
            &mut r,
            rng.random_range(0.0..w as f32),
            rng.random_range(0.0..h as f32),
            rng.random_range(12.0..40.0),
            rng.random_range(8.0..24.0),
        );
        let g = rng.random_range(0.72..0.86);
        canvas.fill(&r, [g, g + 0.03, g - 0.02], 0.9);
    }
    for _ in 0..rng.random_range(4..6) {
        let mut r = Rasterizer::new(w as usize, h as usize);
        let (y0, amp, period, phase) = (
            rng.random_range(15.0..h as f32 - 15.0),
            rng.random_range(4.0..16.0),
            rng.random_range(50.0..140.0),
            rng.random_range(0.0..std::f32::consts::TAU),
        );
        let pts: Vec<Point> = (0..=52)
            .map(|i| {
                let x = i as f32 * w as f32 / 52.0;
                point(
                    x,
                    y0 + amp * (x / period * std::f32::consts::TAU + phase).sin(),
                )
            })
            .collect();
        band(&mut r, &pts, rng.random_range(1.5..3.0));
        let g = rng.random_range(0.40..0.58);
        canvas.fill(&r, [g, g, g], 1.0);
    }

    // The glyphs: one line that follows a gentle wave, crowded so that neighbours touch.
    let fonts: Vec<FontRef<'static>> = FONTS
        .iter()
        .map(|b| FontRef::try_from_slice(b))
        .collect::<Result<_, _>>()?;
    let n = text.chars().count().max(1) as f32;
    let step = (w as f32 - 48.0) / n;
    let wave_amp = rng.random_range(3.0..7.0);
    let wave_period = rng.random_range(120.0..220.0);
    let wave_phase = rng.random_range(0.0..std::f32::consts::TAU);
    for (i, c) in text.chars().enumerate() {
        let font = &fonts[rng.random_range(0..fonts.len())];
        let id = font.glyph_id(c);
        let Some(outline) = font.outline(id) else {
            anyhow::bail!("the CAPTCHA font has no glyph for {c:?}");
        };
        let units = font.units_per_em().unwrap_or(1000.0);
        let px = rng.random_range(46.0..58.0);
        let s = px / units;
        let angle: f32 = rng.random_range(-0.42_f32..0.42);
        let shear: f32 = rng.random_range(-0.30_f32..0.30);
        let stretch: f32 = rng.random_range(0.85..1.15);
        let (sin, cos) = angle.sin_cos();
        let b = outline.bounds;
        let (bcx, bcy) = ((b.min.x + b.max.x) / 2.0, (b.min.y + b.max.y) / 2.0);
        let gx = 24.0 + step * (i as f32 + 0.5) + rng.random_range(-3.0..3.0);
        // A gentle bend inside the glyph: strokes stay whole, shapes stop matching a font.
        let (bend_x, bend_y) = (rng.random_range(1.5..3.5), rng.random_range(1.5..3.5));
        let (bend_px, bend_py) = (rng.random_range(14.0..24.0), rng.random_range(14.0..24.0));
        let bend_phase = rng.random_range(0.0..std::f32::consts::TAU);
        let gy = h as f32 / 2.0 + rng.random_range(-6.0..6.0);
        let map = |p: ab_glyph::Point| -> Point {
            // font units (y up) → pixels around the glyph centre, then shear, rotate, place,
            // and bend along the line's wave.
            let x = (p.x - bcx) * s * stretch;
            let y = -(p.y - bcy) * s;
            let x = x + shear * y;
            let (x, y) = (
                x + bend_x * (y / bend_py + bend_phase).sin(),
                y + bend_y * (x / bend_px + bend_phase).sin(),
            );
            let (x, y) = (x * cos - y * sin, x * sin + y * cos);
            let x = x + gx;
            let y =
                y + gy + wave_amp * (x / wave_period * std::f32::consts::TAU + wave_phase).sin();
            clip(point(x, y))
        };
        let mut r = Rasterizer::new(w as usize, h as usize);
        for curve in &outline.curves {
            match *curve {
                OutlineCurve::Line(a, b) => r.draw_line(map(a), map(b)),
                OutlineCurve::Quad(a, b, c) => r.draw_quad(map(a), map(b), map(c)),
                OutlineCurve::Cubic(a, b, c, d) => r.draw_cubic(map(a), map(b), map(c), map(d)),
            }
        }
        // Dark, saturated ink in a random hue: always well above 4.5:1 against the paper.
        let hue = rng.random_range(0.0..6.0_f32);
        let (r1, g1, b1) = hue_rgb(hue);
        let ink = [r1 * 0.35, g1 * 0.35, b1 * 0.35];
        canvas.fill(&r, ink, 1.0);
    }

    let mut bytes = Vec::with_capacity((w * h * 3) as usize);
    for px in &canvas.rgb {
        for c in px {
            bytes.push((c.clamp(0.0, 1.0) * 255.0).round() as u8);
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Best);
        let mut writer = enc.write_header()?;
        writer.write_image_data(&bytes)?;
    }
    Ok(out)
}

/// A fully saturated colour for a hue in [0, 6).
fn hue_rgb(h: f32) -> (f32, f32, f32) {
    let x = 1.0 - ((h % 2.0) - 1.0).abs();
    match h as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    }
}

/// Write `count` images named `NNN-ANSWER.png` into `dir` (`parley captcha-samples`, for
/// scripts/captcha-ocr.sh and for people judging readability).
/// `count` images named `NNN-ANSWER.png`. With a `seed` the set is the same on every run (the
/// suite's OCR check is then repeatable, not a coin toss); without one, fresh randomness.
pub fn write_samples(dir: &std::path::Path, count: usize, seed: Option<u64>) -> anyhow::Result<()> {
    use rand::SeedableRng;
    std::fs::create_dir_all(dir)?;
    let mut rng = match seed {
        Some(seed) => rand::rngs::StdRng::seed_from_u64(seed),
        None => rand::rngs::StdRng::from_rng(&mut rand::rng()),
    };
    for i in 0..count {
        let a = answer_from(&mut rng);
        std::fs::write(
            dir.join(format!("{i:03}-{a}.png")),
            render_png_with(&a, &mut rng)?,
        )?;
    }
    Ok(())
}

// ---- audio ---------------------------------------------------------------------------------

/// The spoken symbols (`scripts/captcha-audio.sh`, eSpeak NG): 8-bit unsigned mono WAV at
/// 11025 Hz; letters come with their NATO word ("K, kilo").
const SAMPLE_RATE: u32 = 11025;

fn spoken(c: char) -> Option<&'static [u8]> {
    Some(match c {
        'A' => include_bytes!("../../assets/captcha/audio/A.wav"),
        'C' => include_bytes!("../../assets/captcha/audio/C.wav"),
        'D' => include_bytes!("../../assets/captcha/audio/D.wav"),
        'E' => include_bytes!("../../assets/captcha/audio/E.wav"),
        'F' => include_bytes!("../../assets/captcha/audio/F.wav"),
        'H' => include_bytes!("../../assets/captcha/audio/H.wav"),
        'J' => include_bytes!("../../assets/captcha/audio/J.wav"),
        'K' => include_bytes!("../../assets/captcha/audio/K.wav"),
        'L' => include_bytes!("../../assets/captcha/audio/L.wav"),
        'M' => include_bytes!("../../assets/captcha/audio/M.wav"),
        'N' => include_bytes!("../../assets/captcha/audio/N.wav"),
        'P' => include_bytes!("../../assets/captcha/audio/P.wav"),
        'R' => include_bytes!("../../assets/captcha/audio/R.wav"),
        'T' => include_bytes!("../../assets/captcha/audio/T.wav"),
        'W' => include_bytes!("../../assets/captcha/audio/W.wav"),
        'X' => include_bytes!("../../assets/captcha/audio/X.wav"),
        '3' => include_bytes!("../../assets/captcha/audio/3.wav"),
        '4' => include_bytes!("../../assets/captcha/audio/4.wav"),
        '6' => include_bytes!("../../assets/captcha/audio/6.wav"),
        '7' => include_bytes!("../../assets/captcha/audio/7.wav"),
        '9' => include_bytes!("../../assets/captcha/audio/9.wav"),
        _ => return None,
    })
}

/// The samples of a RIFF/WAVE file's `data` chunk.
fn wav_samples(file: &[u8]) -> Option<&[u8]> {
    let mut at = 12;
    while at + 8 <= file.len() {
        let id = &file[at..at + 4];
        let len = u32::from_le_bytes(file[at + 4..at + 8].try_into().ok()?) as usize;
        let body = file.get(at + 8..(at + 8 + len).min(file.len()))?;
        if id == b"data" {
            return Some(body);
        }
        at += 8 + len + (len & 1);
    }
    None
}

/// The challenge read aloud: "Type the characters you hear", each symbol with a random pause,
/// over a low hiss that varies from challenge to challenge. 8-bit mono WAV.
pub fn render_wav(answer: &str) -> anyhow::Result<Vec<u8>> {
    let mut rng = rand::rng();
    let mut pcm: Vec<f32> = Vec::new();
    let silence = |pcm: &mut Vec<f32>, secs: f32| {
        pcm.extend(std::iter::repeat_n(
            0.0,
            (secs * SAMPLE_RATE as f32) as usize,
        ))
    };
    silence(&mut pcm, 0.4);
    for c in normalize_answer(answer).chars() {
        let Some(samples) = spoken(c).and_then(wav_samples) else {
            anyhow::bail!("no recording for {c:?}");
        };
        let gain = rng.random_range(0.8..1.0);
        pcm.extend(samples.iter().map(|&s| (s as f32 - 128.0) / 128.0 * gain));
        silence(&mut pcm, rng.random_range(0.45..0.8));
    }
    silence(&mut pcm, 0.3);
    let data: Vec<u8> = pcm
        .iter()
        .map(|s| {
            let noisy = s + rng.random_range(-0.04..0.04);
            (noisy.clamp(-1.0, 1.0) * 127.0 + 128.0).round() as u8
        })
        .collect();
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes()); // bytes per second
    out.extend_from_slice(&1u16.to_le_bytes()); // block align
    out.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_has_a_glyph_and_a_recording_for_every_symbol() {
        for c in ALPHABET.chars() {
            for f in FONTS {
                let font = FontRef::try_from_slice(f).unwrap();
                assert!(font.outline(font.glyph_id(c)).is_some(), "{c}");
            }
            assert!(spoken(c).and_then(wav_samples).is_some(), "{c}");
        }
    }

    #[test]
    fn answers_compare_without_case_spaces_or_dashes() {
        assert_eq!(answer_hash("k7 m-a3"), answer_hash("K7MA3"));
        assert_ne!(answer_hash("K7MA3"), answer_hash("K7MA4"));
    }

    #[test]
    fn image_and_audio_render() {
        let a = random_answer();
        assert_eq!(a.chars().count(), LENGTH);
        assert!(render_png(&a).unwrap().starts_with(b"\x89PNG"));
        let wav = render_wav(&a).unwrap();
        assert!(wav.starts_with(b"RIFF") && wav.len() > 44 + 5 * 5000);
    }
}
