//! Support code for the integration tests: a private moto server per test (`moto`), the
//! DataSpace starting state (`seed`), a tiny local HTTP server for the fake GitHub API and the
//! scripted AWS stand-in (`http`), and a runner that executes the real binary with a GitHub
//! runner's environment (`runner`). Each test module uses only part of it.
#![allow(dead_code, unused_imports)]

pub mod http;
pub mod moto;
pub mod runner;
pub mod seed;

pub use http::{amz_target, forward, HttpServer, Request, Response};
pub use moto::{xml_values, Moto, MotoOptions};
pub use runner::{Outcome, Run};
pub use seed::{push_image, seed_dataspace, Seeded};
