//! The demo store's label service: a real HTTP endpoint on 127.0.0.1 that answers
//! `GET /health` with 200 while labels print and 503 while they do not. herald's monitor
//! checks it like any service of a seller's, so the outage reaches the status page the way a
//! real one would.

use anyhow::Result;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct LabelService {
    /// Its health check's address.
    pub url: String,
    up: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl LabelService {
    /// Starts it, printing labels.
    pub async fn start() -> Result<Self> {
        let up = Arc::new(AtomicBool::new(true));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/health", listener.local_addr()?);
        let flag = up.clone();
        let app = axum::Router::new().route(
            "/health",
            axum::routing::get(move || {
                let up = flag.load(Ordering::Acquire);
                async move {
                    if up {
                        (axum::http::StatusCode::OK, "labels print\n")
                    } else {
                        (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            "label provider unreachable\n",
                        )
                    }
                }
            }),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, up, task })
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Release);
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }
}

impl Drop for LabelService {
    fn drop(&mut self) {
        self.task.abort();
    }
}
