//! The service layer: accounts, authentication and messaging rules. It speaks in domain types
//! and `AppError`; it knows nothing of HTTP. (Filled by the accounts and messaging work.)
