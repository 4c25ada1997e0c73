//! Pictures in the terminal: the CAPTCHA (a PNG from the server) and the TOTP enrolment QR code,
//! drawn with Unicode half-blocks (`▀`, `▄`, `█`), two pixel rows per text row.
