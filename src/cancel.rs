//! The one cancellation source: SIGTERM or SIGINT (a cancelled workflow, Ctrl-C).
//!
//! `listen` installs the handlers once; every part of the run that must react (the top-level
//! grace period, the wait loop, a one-off task later) awaits `cancelled`, which resolves with
//! the signal's name for every waiter, however late it started waiting.

use std::sync::OnceLock;

use tokio::sync::watch;

static SIGNAL: OnceLock<watch::Receiver<Option<&'static str>>> = OnceLock::new();

/// Installs the signal handlers (inside the runtime). Calling it again does nothing.
pub(crate) fn listen() {
    SIGNAL.get_or_init(|| {
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let name = first_signal().await;
            let _ = tx.send(Some(name));
            // Keep the sender alive so waiters see the value, not a closed channel.
            std::future::pending::<()>().await;
        });
        rx
    });
}

/// The signal's name when the run was asked to stop already.
pub(crate) fn requested() -> Option<&'static str> {
    SIGNAL.get().and_then(|rx| *rx.borrow())
}

/// Resolves with the signal's name once the run was asked to stop; never without `listen`.
pub(crate) async fn cancelled() -> &'static str {
    let Some(rx) = SIGNAL.get() else {
        return std::future::pending().await;
    };
    let mut rx = rx.clone();
    loop {
        if let Some(name) = *rx.borrow_and_update() {
            return name;
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

async fn first_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
