//! The read side of the access log: every read of personal data is recorded durably before the
//! response leaves. Concurrent reads are group-committed: one task drains whatever records are
//! waiting and writes them in one transaction, then releases every waiting request. A request
//! whose record could not be written gets an error, never its data.
use thabian_store::{AccessRecord, DynStore};
use tokio::sync::{mpsc, oneshot};

type Reply = oneshot::Sender<Result<(), String>>;

#[derive(Clone)]
pub struct AccessLog {
    tx: mpsc::Sender<(Vec<AccessRecord>, Reply)>,
}

const MAX_BATCH: usize = 2048;

impl AccessLog {
    pub fn start(store: DynStore) -> AccessLog {
        let (tx, mut rx) = mpsc::channel::<(Vec<AccessRecord>, Reply)>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut records = first.0;
                let mut replies = vec![first.1];
                while records.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok((more, reply)) => {
                            records.extend(more);
                            replies.push(reply);
                        }
                        Err(_) => break,
                    }
                }
                let outcome = store
                    .append_access(&records)
                    .await
                    .map_err(|e| e.to_string());
                if let Err(e) = &outcome {
                    tracing::error!(error = %e, records = records.len(), "could not write access records");
                }
                for reply in replies {
                    let _ = reply.send(outcome.clone());
                }
            }
        });
        AccessLog { tx }
    }

    /// Returns once the records are committed.
    pub async fn record(&self, records: Vec<AccessRecord>) -> Result<(), String> {
        if records.is_empty() {
            return Ok(());
        }
        let (reply, wait) = oneshot::channel();
        self.tx
            .send((records, reply))
            .await
            .map_err(|_| "the access log writer has stopped".to_owned())?;
        wait.await
            .map_err(|_| "the access log writer has stopped".to_owned())?
    }
}
