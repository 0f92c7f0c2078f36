//! The stages this crate implements, each one library call from an experiment and a validated
//! config to a typed result that knows its tables: [`cluster`], [`train`] and [`predict`].

pub mod cluster;
pub mod predict;
pub mod train;
