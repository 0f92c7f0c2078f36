//! The stages this crate implements, each one library call from an experiment and a validated
//! config to a typed result that knows its tables: [`diff`] and [`explore`].

pub mod diff;
pub mod explore;
