//! The one integration-test binary: the real `ecs-deploy` binary run the way a GitHub runner
//! runs a container action, against moto and local HTTP servers.

mod support;
mod support_selftest;

mod bad_input;
mod codedeploy;
mod compose;
mod dayone;
mod deploy;
mod drift;
mod faults;
mod github;
mod housekeeping;
mod images;
mod native;
mod oneoff;
mod promote;
mod rollout;
mod stack;
mod trust;
mod ways;
