//! Transport security: the certificate profile (`certs`), the certificate files and their
//! renewal (`store`), and the rustls policy (`policy`).

pub mod certs;
pub mod policy;
pub mod store;
