#![forbid(unsafe_code)]
pub mod app;
pub mod config;
pub mod http;
pub mod hub;
pub mod json;
pub mod output;
pub mod server;
pub mod sse;
pub mod stats;

pub use config::Config;
pub use server::{Server, ServerHandle};
