// Generated from the server's GET /api/openapi.json (the parley-api types) by
// scripts/web-contract.mjs; do not edit. To bring it up to date, run
//   PARLEY_UPDATE_WEB_CONTRACT=1 PARLEY_BIN=… node --test tests/browser/contract.test.mjs
// Times are Unix seconds, ids are strings (users) or integers (messages).

/** One authenticator of the account, current or replaced. */
export interface Authenticator {
  created_at: number;
  /** `password`, `totp` or `recovery_codes`. */
  kind: string;
  revoked_at?: number | null;
  status: AuthenticatorStatus;
}

/** Whether an authenticator is in use. */
export type AuthenticatorStatus = "active" | "replaced";

/** `GET /api/account/authenticators`. */
export interface Authenticators {
  authenticators: Authenticator[];
}

/** `GET /api/captcha`: a challenge to answer within `expires_in` seconds. */
export interface Captcha {
  expires_in: number;
  id: string;
  /** A `data:image/png;base64,…` URI. */
  image: string;
}

/** `POST /api/account/password`. */
export interface ChangePassword {
  /** At least 8 code points and at most 1024 bytes of UTF-8, after NFKC. */
  new_password: string;
  new_password_confirm: string;
  password: string;
}

/** What a client may send. */
export type ClientFrame = {
  id?: number | null;
  ids?: number[];
  type: "ack";
} | {
  payload: unknown;
  peer_id: string;
  tag?: string | null;
  type: "send";
};

/**
 * A body holding one code: `POST /api/register/totp`, `/api/login/totp`,
 * `/api/login/recovery`, `/api/account/totp/confirm`.
 */
export interface CodeBody {
  code: string;
}

/** One conversation of the user. */
export interface Conversation {
  last_activity: number;
  last_id: number;
  /** The peer deleted their account: history stays, sending does not. */
  peer_deleted: boolean;
  peer_id: string;
  peer_username: string;
  unread: number;
}

/** `GET /api/conversations`. */
export interface Conversations {
  conversations: Conversation[];
}

/**
 * `{"error": code, "message": text, …}`: a stable code, a human message, and the fields some
 * errors add.
 */
export interface ErrorBody {
  /** A refused sign-up or sign-in whose CAPTCHA can be answered again: `kept`. */
  captcha?: string | null;
  /** The stable code (`validation`, `unauthorized`, `rate_limited`, …). */
  error: string;
  /** `factor_locked`: `password`, `totp` or `recovery`. */
  factor?: string | null;
  /** `validation`: the field at fault. */
  field?: string | null;
  message: string;
  /** `quota_exceeded`: which quota. */
  quota?: string | null;
  /** `session_expired`: `idle` or `absolute`. */
  reason?: string | null;
  /** `password_rejected`: every reason. */
  reasons?: PasswordRejection[] | null;
  /** `rate_limited`, `quota_exceeded`: seconds until a retry can succeed (also `Retry-After`). */
  retry_after_secs?: number | null;
}

/** The answer to `GET /api/users`. */
export interface FoundUser {
  id: string;
  keys: Keys;
  username: string;
}

/** `GET /api/health`. */
export interface Health {
  /** `ok`. */
  status: string;
  /** The server's version. */
  version: string;
}

/** `GET /api/users/{id}/keys`: the current key and every key ever published. */
export interface Keys {
  current?: PublicKeyRecord | null;
  history: PublicKeyRecord[];
}

/**
 * `GET /api/keysets/{key_set}/last-iv`: the highest IV counter the user stored under that key
 * set (0 if none), and whether a `change` from it is stored.
 */
export interface LastIv {
  closed: boolean;
  key_set: string;
  last_iv: number;
}

/** `POST /api/login`. */
export interface Login {
  captcha_answer?: string | null;
  captcha_id?: string | null;
  password: string;
  username: string;
}

/** The answer to a correct password: a second factor is next. */
export interface LoginPending {
  methods: SecondFactorMethod[];
  stage: LoginStage;
}

/** Where a sign-in stands after the password. */
export type LoginStage = "second_factor";

/** `POST /api/conversations/{peer}/read`: everything from the peer up to this id is read. */
export interface MarkRead {
  up_to: number;
}

/** The answer to a read mark: how many messages it marked. */
export interface Marked {
  marked: number;
}

/** `GET /api/me`. */
export interface Me {
  /** The operator's `crypto_console_log` setting. */
  crypto_console_log: boolean;
  csrf_token: string;
  must_change_password: boolean;
  /** The server's clock, so the browser can show deadlines. */
  now: number;
  recovery_codes_remaining: number;
  session: Session;
  user: User;
}

/** A stored message. The server cannot read `payload`; it checked only its shape. */
export interface Message {
  created_at: number;
  delivered_at?: number | null;
  id: number;
  /** `msg`, `ecdh` or `change`. */
  kind: string;
  /** The sender's JSON, verbatim. */
  payload: unknown;
  read_at?: number | null;
  recipient_id: string;
  sender_id: string;
}

/** A page of a conversation, oldest first, and the limit applied. */
export interface MessagePage {
  limit: number;
  messages: Message[];
}

/** A body holding the current password: `POST /api/session/reauth`. */
export interface PasswordBody {
  password: string;
}

/** `POST /api/password/check`. */
export interface PasswordCheck {
  password: string;
  /** The username it is meant for, if known (context-specific words rate low). */
  username?: string;
}

/** The answer to `POST /api/password/check`. */
export interface PasswordFeedback {
  acceptable: boolean;
  /** Code points after normalization. */
  length: number;
  reasons: PasswordRejection[];
  /** zxcvbn's score, 0 to 4. */
  score: number;
  suggestions: string[];
  warning?: string | null;
}

/** One reason a password is refused: a stable `code` and a message that says why. */
export interface PasswordRejection {
  /**
   * `too_short`, `too_long`, `breached`, `common`, `dictionary_word`, `repetitive`,
   * `sequential`, `context_specific` or `mismatch`.
   */
  code: string;
  message: string;
}

/** One published identity key. */
export interface PublicKeyRecord {
  created_at: number;
  public_key: string;
}

/** `POST /api/keys`: the identity public key, base64 of the 97-byte uncompressed P-384 point. */
export interface PublishKey {
  public_key: string;
}

/** The answer to `POST /api/keys`: `true` (201) for a key never published before. */
export interface Published {
  published: boolean;
}

/** The answer to `POST /api/session/reauth`: the session with its deadlines extended. */
export interface Reauthenticated {
  session: Session;
}

/** The answer to `POST /api/account/recovery-codes`: a new set, shown once. */
export interface RecoveryCodes {
  recovery_codes: string[];
}

/** `POST /api/register/finish`. */
export interface RegisterFinish {
  /** Must be true: the user saved the recovery codes. */
  saved: boolean;
}

/** `POST /api/register`. */
export interface RegisterStart {
  captcha_answer?: string | null;
  captcha_id?: string | null;
  /** At least 8 code points and at most 1024 bytes of UTF-8, after NFKC. */
  password: string;
  password_confirm: string;
  username: string;
}

/** The answer to `POST /api/register/totp`: the recovery codes, shown once. */
export interface RegistrationCodes {
  recovery_codes: string[];
  /** Always `recovery`. */
  stage: RegistrationStage;
}

/** Where a registration stands. */
export type RegistrationStage = "totp" | "recovery";

/** `201` to `POST /api/register`: the account is not made yet; the authenticator is next. */
export interface RegistrationStarted {
  expires_at: number;
  /** Always `totp`. */
  stage: RegistrationStage;
  totp: TotpProvisioning;
  username: string;
}

/** `GET /api/register`: the registration this browser has under way. */
export interface RegistrationState {
  expires_at: number;
  stage: RegistrationStage;
  username: string;
}

/** The second factor that confirms a sensitive change: one of the two. */
export interface SecondFactor {
  recovery_code?: string | null;
  totp_code?: string | null;
}

/** A second factor of sign-in. */
export type SecondFactorMethod = "totp" | "recovery";

/** One entry of the security log. */
export interface SecurityEvent {
  at: number;
  detail: string;
  event: SecurityEventKind;
  ip: string;
  user_agent: string;
}

/** What a security-log entry records. Stored and sent by these names (`as_str`). */
export type SecurityEventKind = "registered" | "login_password_ok" | "login_password_failed" | "login_totp_failed" | "login_recovery_failed" | "login_succeeded" | "recovery_code_used" | "factor_locked" | "factor_unlocked" | "logout" | "session_revoked" | "password_changed" | "totp_confirm_failed" | "totp_reenrolled" | "recovery_codes_regenerated";

/**
 * `GET /api/account/security-log`: newest first, at most
 * [`SECURITY_LOG_MAX`](crate::limits::SECURITY_LOG_MAX).
 */
export interface SecurityLog {
  events: SecurityEvent[];
}

/**
 * `POST /api/conversations/{peer}/messages`: an `ecdh`, `msg` or `change` payload
 * (docs/protocol.md §5).
 */
export interface SendMessage {
  payload: unknown;
}

/**
 * A sensitive change (new authenticator, new recovery codes, deleting the account): the password
 * and a second factor again.
 */
export type Sensitive = SecondFactor & {
  password: string;
};

/** The answer to a send: the message as stored. */
export interface Sent {
  message: Message;
}

/** What the server sends. */
export type ServerFrame = {
  message: Message;
  type: "message";
} | {
  type: "backlog_done";
} | {
  at: number;
  id: number;
  type: "delivered";
} | {
  at: number;
  peer: string;
  reader: string;
  type: "read";
  up_to: number;
} | {
  type: "key";
  user_id: string;
} | {
  type: "account_deleted";
  user_id: string;
} | {
  type: "resync";
} | {
  message: Message;
  tag?: string | null;
  type: "sent";
} | (ErrorBody & {
  tag?: string | null;
} & {
  type: "error";
});

/** The session a request came with, and its deadlines. */
export interface Session {
  absolute_expires_at: number;
  created_at: number;
  /** The session's public id (never its token). */
  id: string;
  idle_expires_at: number;
}

/** One of the user's sessions (`GET /api/sessions`). */
export interface SessionInfo {
  created_at: number;
  /** The session this request came with. */
  current: boolean;
  id: string;
  ip: string;
  last_active_at: number;
  user_agent: string;
}

/** `GET /api/sessions`. */
export interface SessionList {
  sessions: SessionInfo[];
}

/** The answer to a completed sign-up or sign-in (the session cookie is set beside it). */
export interface SignedIn {
  /** Sent back in `X-CSRF-Token` on every state-changing request. */
  csrf_token: string;
  /** Sign-in only. */
  recovery_codes_remaining?: number | null;
  session: Session;
  user: User;
  /** After a recovery code: urges a new set. */
  warning?: string | null;
}

/** What an authenticator app needs to enrol. */
export interface TotpProvisioning {
  digits: number;
  otpauth_uri: string;
  period: number;
  /** A QR code of the URI, as an SVG `data:` URI rendered by the server. */
  qr: string;
  /** The secret, base32 without padding. */
  secret: string;
}

/** The answer to `POST /api/account/totp/start`. */
export interface TotpStarted {
  totp: TotpProvisioning;
}

/** A user as the API shows them. */
export interface User {
  created_at: number;
  id: string;
  username: string;
}

/** Every operation: `METHOD /path` → its JSON request body and its success answer. */
export interface Operations {
  "GET /api/account/authenticators": {
    body: never;
    answer: Authenticators;
  };
  "POST /api/account/delete": {
    body: Sensitive;
    answer: null;
  };
  "POST /api/account/password": {
    body: ChangePassword;
    answer: null;
  };
  "POST /api/account/recovery-codes": {
    body: Sensitive;
    answer: RecoveryCodes;
  };
  "GET /api/account/security-log": {
    body: never;
    answer: SecurityLog;
  };
  "POST /api/account/totp/confirm": {
    body: CodeBody;
    answer: null;
  };
  "POST /api/account/totp/start": {
    body: Sensitive;
    answer: TotpStarted;
  };
  "GET /api/captcha": {
    body: never;
    answer: Captcha;
  };
  /** `GET /api/captcha/{id}/audio`: the same challenge, spoken (WAV). */
  "GET /api/captcha/{id}/audio": {
    body: never;
    answer: null;
  };
  "GET /api/conversations": {
    body: never;
    answer: Conversations;
  };
  "GET /api/conversations/{peer_id}/messages": {
    body: never;
    answer: MessagePage;
  };
  "POST /api/conversations/{peer_id}/messages": {
    body: SendMessage;
    answer: Sent;
  };
  "POST /api/conversations/{peer_id}/read": {
    body: MarkRead;
    answer: Marked;
  };
  "GET /api/health": {
    body: never;
    answer: Health;
  };
  "POST /api/keys": {
    body: PublishKey;
    answer: Published;
  };
  /**
   * `GET /api/keysets/{key_set}/last-iv`: the highest IV counter the session's user stored under
   * that key set (0 if none) and whether a `change` from it is stored, so that a browser whose
   * localStorage was restored from an older copy resumes above every IV it already used (E3,
   * issue 8). Only the user's own messages count; a key set id is not secret, the answer is.
   */
  "GET /api/keysets/{key_set}/last-iv": {
    body: never;
    answer: LastIv;
  };
  "POST /api/login": {
    body: Login;
    answer: LoginPending;
  };
  "POST /api/login/recovery": {
    body: CodeBody;
    answer: SignedIn;
  };
  "POST /api/login/totp": {
    body: CodeBody;
    answer: SignedIn;
  };
  "POST /api/logout": {
    body: never;
    answer: null;
  };
  "GET /api/me": {
    body: never;
    answer: Me;
  };
  "GET /api/openapi.json": {
    body: never;
    answer: null;
  };
  "POST /api/password/check": {
    body: PasswordCheck;
    answer: PasswordFeedback;
  };
  "GET /api/register": {
    body: never;
    answer: RegistrationState;
  };
  "POST /api/register": {
    body: RegisterStart;
    answer: RegistrationStarted;
  };
  "POST /api/register/finish": {
    body: RegisterFinish;
    answer: SignedIn;
  };
  "POST /api/register/totp": {
    body: CodeBody;
    answer: RegistrationCodes;
  };
  "POST /api/session/reauth": {
    body: PasswordBody;
    answer: Reauthenticated;
  };
  "GET /api/sessions": {
    body: never;
    answer: SessionList;
  };
  "POST /api/sessions/revoke-all": {
    body: never;
    answer: null;
  };
  "DELETE /api/sessions/{id}": {
    body: never;
    answer: null;
  };
  /** Exact username (case-insensitive), never a search: no directory to harvest. */
  "GET /api/users": {
    body: never;
    answer: FoundUser;
  };
  "GET /api/users/{id}/keys": {
    body: never;
    answer: Keys;
  };
  "GET /api/ws": {
    body: never;
    answer: null;
  };
}
