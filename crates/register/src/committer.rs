//! Group commit for the write path: concurrent submissions that are ready to commit are written
//! together in one transaction (one hold of the sequencer row, one fsync), each in its own
//! savepoint, so a refused one (version conflict, PIN collision) leaves the others whole and is
//! retried by its own submitter. Nothing is acknowledged before its transaction commits.
use thabian_store::{DynStore, StoreError, StoredEvent, WriteBatch};
use tokio::sync::{mpsc, oneshot};

type Reply = oneshot::Sender<Result<Vec<StoredEvent>, StoreError>>;

#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<(WriteBatch, Reply)>,
}

/// Most batches in one transaction: bounds the time the sequencer row is held.
const MAX_GROUP: usize = 128;

impl Committer {
    pub fn start(store: DynStore) -> Committer {
        let (tx, mut rx) = mpsc::channel::<(WriteBatch, Reply)>(1024);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batches = vec![first.0];
                let mut replies = vec![first.1];
                while batches.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok((batch, reply)) => {
                            batches.push(batch);
                            replies.push(reply);
                        }
                        Err(_) => break,
                    }
                }
                match store.commit_many(batches).await {
                    Ok(results) => {
                        for (reply, result) in replies.into_iter().zip(results) {
                            let _ = reply.send(result);
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "group commit failed");
                        let message = e.to_string();
                        for reply in replies {
                            let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
                        }
                    }
                }
            }
        });
        Committer { tx }
    }

    /// Commits one batch (possibly together with others) and returns its events.
    pub async fn commit(&self, batch: WriteBatch) -> Result<Vec<StoredEvent>, StoreError> {
        let (reply, wait) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the committer has stopped".into());
        self.tx.send((batch, reply)).await.map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }
}
