//! CAPTCHA challenges for sign-up and sign-in: made, spoken, kept or consumed.

use super::{Accounts, Client};
use crate::core::{AppError, AppResult};
use crate::service::captcha;
use crate::service::rate_limit::Action;

/// Associated data binding a sealed CAPTCHA answer to its challenge.
fn captcha_aad(id: &str) -> String {
    format!("parley captcha {id}")
}

impl Accounts {
    pub async fn new_captcha(&self, client: &Client) -> AppResult<(String, String)> {
        self.limit(Action::Captcha, client)?;
        let fixed = self.config.test_captcha_answer.as_deref();
        // Drawing the image is CPU work anyone can ask for: on the low-priority threads, so a
        // flood of challenges (each sign-in starts with one) does not delay chat (issue 10).
        let fixed = fixed.map(str::to_owned);
        let c = self
            .hasher
            .run_in_background(move || captcha::new_challenge(fixed.as_deref()))
            .await?
            .map_err(AppError::Internal)?;
        let now = self.clock.now();
        let sealed = self
            .keys
            .seal(c.answer.as_bytes(), captcha_aad(&c.id).as_bytes());
        self.db
            .insert_captcha(&c.id, &c.answer_hash, &sealed, now + captcha::TTL_SECS)
            .await?;
        Ok((c.id, c.png_data_uri))
    }

    /// The same challenge, spoken (WCAG 1.1.1): a WAV made on demand from the sealed answer.
    /// Listening does not consume the challenge; an unknown, expired or consumed one is 404.
    pub async fn captcha_audio(&self, id: &str, client: &Client) -> AppResult<Vec<u8>> {
        self.limit(Action::Captcha, client)?;
        let sealed = self
            .db
            .captcha_answer_enc(id, self.clock.now())
            .await?
            .ok_or(AppError::NotFound)?;
        let answer = self
            .keys
            .open(&sealed, captcha_aad(id).as_bytes())
            .map_err(AppError::Internal)?;
        let answer = String::from_utf8(answer).map_err(|e| AppError::Internal(e.into()))?;
        self.hasher
            .run_in_background(move || captcha::render_wav(&answer))
            .await?
            .map_err(AppError::Internal)
    }

    /// Whether a challenge sent with a refused request can still be answered: true when the
    /// request was refused before the challenge was checked (the client keeps the typed
    /// answer and the image then).
    pub async fn captcha_kept(&self, id: Option<&str>) -> bool {
        match id {
            Some(id) => self
                .db
                .captcha_alive(id, self.clock.now())
                .await
                .unwrap_or(false),
            None => false,
        }
    }

    /// Consume the challenge; right answer or not, it cannot be tried again. Callers check it
    /// only once every field that can be judged without it has passed (issue 14 item 1): a
    /// request refused for a weak password or a malformed username leaves the challenge
    /// untouched, so the person keeps their answer; the first request that checks it
    /// consumes it, so a solved challenge buys exactly one attempt at what it protects (one
    /// password guess, one username-availability answer).
    pub async fn check_captcha(&self, id: Option<&str>, answer: Option<&str>) -> AppResult<()> {
        let (Some(id), Some(answer)) = (id, answer) else {
            return Err(AppError::CaptchaFailed);
        };
        let stored = self.db.take_captcha(id, self.clock.now()).await?;
        match stored {
            Some(hash) if crate::service::crypto::ct_eq(&hash, &captcha::answer_hash(answer)) => {
                Ok(())
            }
            _ => Err(AppError::CaptchaFailed),
        }
    }
}
