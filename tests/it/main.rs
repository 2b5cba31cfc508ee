//! The single integration-test binary: runs the real `ecs-deploy` against moto and local fakes.

mod support;
mod support_selftest;
