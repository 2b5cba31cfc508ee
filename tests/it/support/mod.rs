//! Support code for the integration tests and the benchmarks: a private moto server per test
//! (`moto`), the DataSpace starting state (`seed`), a tiny local HTTP server for fake peers
//! (`http`), the scripted AWS stand-in in front of moto (`standin`), and a runner that executes
//! the real binary with a GitHub runner's environment (`runner`). Each user takes only part of
//! it.
#![allow(dead_code, unused_imports)]

pub mod http;
pub mod moto;
pub mod runner;
pub mod seed;
pub mod standin;
pub mod throttle;

pub use http::{amz_target, forward, HttpServer, Request, Response};
pub use moto::{call_json_at, xml_values, Moto, MotoOptions};
pub use runner::{Outcome, Run};
pub use seed::{push_image, seed_dataspace, Seeded};
pub use standin::{At, Clock, Plot, Schedule, StandIn, TaskPlot};
pub use throttle::TokenBucket;
