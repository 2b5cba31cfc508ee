//! The `ecs-deploy` binary: everything happens in `ecs_deploy::run`.

fn main() -> std::process::ExitCode {
    ecs_deploy::run(std::env::args_os().collect())
}
