//! Long polling: a request held open until its channel has news.
//!
//! `GET /ch/{name}/longpoll?after=N&timeout=S` answers at once when the
//! channel retains anything after `N` — exactly like a short poll. Otherwise
//! the request is *parked*: the connection subscribes to the channel once
//! and waits, reading no further request (HTTP/1.1 answers in order, RFC
//! 9112 §9.3.2, so requests pipelined behind it stay buffered). It ends one
//! of two ways:
//!
//! - **a publish** wakes it: the hub removed it from the channel in the
//!   same step, and the answer is the delivered message itself when it is
//!   the one after `N` (nothing newer existed when it parked). With
//!   `--redis` the first message to arrive may be further on (this node
//!   lost Redis for a while and the log was trimmed meanwhile): then the
//!   answer is read from the log, as a short poll's, gap included;
//! - **the timeout** passes: it leaves the channel and answers `200` with
//!   an empty list and the channel's `last_id`, so the client asks again.
//!
//! Either way the connection goes back to reading requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::delivery::Delivery;
use super::exchange::{respond, Reply};
use super::routes::{messages_response, store_refusal};
use super::subscription;
use super::App;
use crate::http::Response;
use crate::hub::{PollOutcome, Replay};
use crate::output::OutputQueue;
use crate::server::Close;
use crate::stats::Stats;

/// How a long poll began.
#[derive(Debug)]
pub enum Start {
    Parked(LongPoll),
    /// There was something to say at once (the answer's close decision).
    Answered(Close),
}

/// A request parked until its channel has news.
#[derive(Debug)]
pub struct LongPoll {
    token: usize,
    channel: String,
    /// The id it waits after: nothing newer existed when it parked.
    after: u64,
    deadline: Instant,
    reply: Reply,
}

impl LongPoll {
    /// Answers at once when there is something after `after` (or a gap to
    /// report); otherwise parks. `Err`: the store failed, answer this.
    pub fn start(
        token: usize,
        channel: String,
        after: Option<u64>,
        timeout: Duration,
        reply: Reply,
        out: &mut OutputQueue,
        app: &mut App,
    ) -> Result<Start, Response> {
        let replay = subscription::replay_or_park(app, &channel, after, token)
            .map_err(|e| store_refusal(&e))?;
        Ok(match replay {
            PollOutcome::Ready(replay) => Start::Answered(answer(&replay, &reply, out, app)),
            PollOutcome::Parked { after } => Start::Parked(LongPoll {
                token,
                channel,
                after,
                deadline: app.now + timeout,
                reply,
            }),
        })
    }

    /// The publish that woke it: answer with that message — or, if it is
    /// not the next id, with what the log has after ours.
    pub fn on_deliver(&self, delivery: &Delivery, out: &mut OutputQueue, app: &mut App) -> Close {
        if Some(delivery.message.id) != self.after.checked_add(1) {
            return match subscription::replay(app, &self.channel, Some(self.after)) {
                Ok(replay) => answer(&replay, &self.reply, out, app),
                Err(error) => respond(&store_refusal(&error), &self.reply, out, app),
            };
        }
        let replay = Replay {
            messages: vec![Arc::clone(&delivery.message)],
            last_id: delivery.message.id,
            gap: false,
        };
        answer(&replay, &self.reply, out, app)
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// At the timeout: leave the channel and answer with nothing new.
    /// `None` while the deadline has not come.
    pub fn on_timer(&self, out: &mut OutputQueue, app: &mut App) -> Option<Close> {
        if app.now < self.deadline {
            return None;
        }
        Some(self.on_drain(out, app))
    }

    /// The server is shutting down: answer now, with nothing new, so the
    /// client polls again (and finds the next server).
    pub fn on_drain(&self, out: &mut OutputQueue, app: &mut App) -> Close {
        let last_id = subscription::unsubscribe(app, &self.channel, self.token);
        let empty = Replay {
            last_id,
            ..Replay::default()
        };
        answer(&empty, &self.reply, out, app)
    }

    /// The connection went away while parked.
    pub fn on_closed(&self, app: &App) {
        subscription::unsubscribe(app, &self.channel, self.token);
    }
}

fn answer(replay: &Replay, reply: &Reply, out: &mut OutputQueue, app: &mut App) -> Close {
    Stats::add(
        &app.stats().messages_delivered,
        replay.messages.len() as u64,
    );
    respond(&messages_response(replay), reply, out, app)
}
