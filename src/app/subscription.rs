//! The app's one door to the hub: publishing, replaying, parking, and the
//! stream subscription that SSE and WebSocket subscribers share.
//!
//! Every hub operation the app needs is a named, atomic call on
//! [`crate::hub::Hub`], made from here and nowhere else. A [`Subscription`]
//! starts by replaying what the channel retains after the client's id (a
//! gap marker first when that id is older than the log), subscribed in the
//! same step — after an opening that tells the client where it stands, so a
//! reconnection resumes even if no message came — and then takes live
//! deliveries. A live delivery is normally
//! the next id and goes out as the bytes shared by every subscriber; if one
//! arrives out of order (publishes on different event loops can race), the
//! hole is filled from the log, and anything already sent is skipped.

use std::sync::Arc;

use super::delivery::{Delivery, Transport};
use super::{App, Mail};
use crate::hub::{Message, Replay, Subscriber};
use crate::output::OutputQueue;
use crate::stats::Stats;
use crate::store::{NewMessage, StoreError};

/// Publishes `text` to `channel`. Nothing is committed yet: the message
/// joins this loop pass's batch, which the store commits in one transaction
/// before any of it is delivered; `publisher` (a connection token) is then
/// told the id, or why it could not be stored.
pub fn publish(app: &mut App, channel: &str, text: String, publisher: Option<usize>) {
    let message = NewMessage {
        channel: channel.to_owned(),
        time_ms: app.unix_millis(),
        data: text.into(),
    };
    app.pending.push(message, publisher);
}

/// Commits this pass's publishes: one store transaction, then the messages
/// go to their subscribers and each publisher learns its id.
pub fn commit(app: &mut App) {
    let (batch, publishers) = app.pending.take();
    let committed = app.shared.hub().publish(&batch);
    match committed {
        Ok(published) => {
            Stats::add(&app.stats().messages_published, published.len() as u64);
            for (published, publisher) in published.into_iter().zip(publishers) {
                let id = published.message.id;
                let delivery = Mail::Deliver(Delivery::new(published.message));
                app.send(Arc::new(delivery), &published.subscribers);
                if let Some(token) = publisher {
                    app.reply(token, Mail::Published(Ok(id)));
                }
            }
        }
        Err(error) => {
            for token in publishers.into_iter().flatten() {
                app.reply(token, Mail::Published(Err(error.clone())));
            }
        }
    }
}

/// The retained messages after `after` (`None`: none, only `last_id`).
pub fn replay(app: &App, channel: &str, after: Option<u64>) -> Result<Replay, StoreError> {
    app.shared.hub().replay(channel, after)
}

/// A long poll's start: the messages after `after` (or a gap) if there are
/// any, else parked on the channel until its next publish (`Ok(None)`).
pub fn replay_or_park(
    app: &App,
    channel: &str,
    after: Option<u64>,
    token: usize,
) -> Result<Option<Replay>, StoreError> {
    let parked = app.subscriber(token, true);
    app.shared.hub().replay_or_park(channel, after, parked)
}

/// Leaves a channel; returns its newest id.
pub fn unsubscribe(app: &App, channel: &str, token: usize) -> u64 {
    app.shared.hub().unsubscribe(channel, app.event_loop, token)
}

/// A stream subscriber: every message once, in id order.
#[derive(Debug)]
pub struct Subscription {
    pub channel: String,
    /// The last id sent: deliveries at or below it are duplicates.
    pub last_id: u64,
    transport: Transport,
}

impl Subscription {
    /// Subscribes, and returns what to replay after `after` (`None`: from
    /// now) — [`Subscription::write_opening`] writes it once the caller has
    /// written its own head. A store failure is returned before anything
    /// is sent, so the client gets a status, not a broken stream.
    pub fn open(
        channel: String,
        after: Option<u64>,
        transport: Transport,
        token: usize,
        app: &App,
    ) -> Result<(Subscription, Replay), StoreError> {
        let replay =
            app.shared
                .hub()
                .replay_and_subscribe(&channel, after, app.subscriber(token, false))?;
        let last_id = replay.messages.last().map_or(replay.last_id, |m| m.id);
        let subscription = Subscription {
            channel,
            last_id,
            transport,
        };
        Ok((subscription, replay))
    }

    /// The opening that says where the client stands, the gap marker when
    /// its id is older than the log, and the replay.
    pub fn write_opening(&self, replay: &Replay, out: &mut Vec<u8>, app: &App) {
        let transport = self.transport;
        // Where the client stands: just before the first message it is sent.
        let position = replay.messages.first().map_or(replay.last_id, |m| m.id - 1);
        transport.encode_ready(position, replay.last_id, out);
        if replay.gap {
            transport.encode_gap(out);
        }
        for message in &replay.messages {
            transport.encode(message, out);
        }
        Stats::add(
            &app.stats().messages_delivered,
            replay.messages.len() as u64,
        );
    }

    /// Queues a live delivery. Returns false when the subscriber has fallen
    /// too far behind (`--max-pending`) and should be closed; it loses
    /// nothing, since it can resume from its last id.
    pub fn deliver(&mut self, delivery: &Delivery, out: &mut OutputQueue, app: &App) -> bool {
        let id = delivery.message.id;
        if id <= self.last_id {
            return true;
        }
        if id == self.last_id + 1 {
            out.push_shared(delivery.bytes(self.transport));
            Stats::add(&app.stats().messages_delivered, 1);
        } else {
            // A failed read leaves the hole: the subscriber is closed and
            // resumes from its last id.
            let Ok(replay) = replay(app, &self.channel, Some(self.last_id)) else {
                return false;
            };
            let missing: Vec<&Arc<Message>> =
                replay.messages.iter().take_while(|m| m.id <= id).collect();
            out.with_owned(|buf| missing.iter().for_each(|m| self.transport.encode(m, buf)));
            Stats::add(&app.stats().messages_delivered, missing.len() as u64);
        }
        self.last_id = id;
        out.pending() <= app.config().max_pending
    }

    /// Leaves the channel.
    pub fn stop(&self, token: usize, app: &App) {
        unsubscribe(app, &self.channel, token);
    }
}

impl App {
    fn subscriber(&self, token: usize, once: bool) -> Subscriber {
        Subscriber {
            event_loop: self.event_loop,
            token,
            once,
        }
    }
}
