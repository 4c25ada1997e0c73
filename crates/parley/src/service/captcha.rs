//! Image CAPTCHAs (A4, §5.2.2): a distorted PNG made on the server. Only a hash of the answer
//! is stored (in the database, so every instance can check it); it is single use, expires in
//! five minutes and is compared case-insensitively. The answer never leaves the server.

use base64::Engine;

use super::crypto::{random_id, token_hash};

pub const TTL_SECS: i64 = 300;

pub struct Challenge {
    pub id: String,
    pub answer_hash: String,
    pub png_data_uri: String,
}

/// Make a challenge. `fixed_answer` is the test-only override (`test_captcha_answer`).
pub fn new_challenge(fixed_answer: Option<&str>) -> anyhow::Result<Challenge> {
    let mut c = captcha::Captcha::new();
    c.add_chars(6)
        .apply_filter(captcha::filters::Noise::new(0.3))
        .apply_filter(captcha::filters::Wave::new(2.0, 18.0))
        .view(240, 90)
        .apply_filter(
            captcha::filters::Cow::new()
                .min_radius(30)
                .max_radius(50)
                .circles(1)
                .area(captcha::Geometry::new(20, 200, 30, 60)),
        )
        .apply_filter(captcha::filters::Dots::new(10));
    let (text, png) = c
        .as_tuple()
        .ok_or_else(|| anyhow::anyhow!("the CAPTCHA image could not be rendered"))?;
    let answer = fixed_answer.map(str::to_owned).unwrap_or(text);
    Ok(Challenge {
        id: random_id(),
        answer_hash: answer_hash(&answer),
        png_data_uri: format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(png)
        ),
    })
}

/// Case-insensitive, surrounding spaces ignored.
pub fn answer_hash(answer: &str) -> String {
    token_hash(&answer.trim().to_lowercase())
}
