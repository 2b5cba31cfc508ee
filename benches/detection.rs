//! Detection-time benchmark of issue 3 (work in progress).

fn main() {}
