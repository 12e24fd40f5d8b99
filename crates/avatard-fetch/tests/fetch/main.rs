//! The SSRF-checked client against hostile addresses and real local servers.

mod refused;
mod served;
