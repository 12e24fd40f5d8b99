//! The SSRF-checked client against hostile addresses and real local servers.

mod hostile;
mod refused;
mod served;
