//! Both storage traits against every engine the environment offers (see engines/mod.rs).

mod blobs;
mod engines;
mod metadata;
