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
use super::App;
use crate::hub::{Message, Replay, Subscriber};
use crate::output::OutputQueue;
use crate::stats::{Count, Stats};

/// A new channel would exceed `--max-channels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyChannels;

/// Whether `channel` exists or may be created (`--max-channels`).
pub fn room_for(app: &App, channel: &str) -> Result<(), TooManyChannels> {
    let hub = app.shared.hub();
    if hub.has_channel(channel) || hub.channel_count() < app.config().max_channels {
        return Ok(());
    }
    drop(hub);
    app.stats().count(Count::RefusedMaxChannels);
    Err(TooManyChannels)
}

/// Publishes `data` to `channel`: the hub gives it the next id; the loop
/// delivers it to the subscribers after this callback. Returns the id.
pub fn publish(app: &mut App, channel: &str, data: String) -> Result<u64, TooManyChannels> {
    room_for(app, channel)?;
    let time = app.unix_millis();
    let (message, subscribers) = app.shared.hub().publish(channel, data, time);
    Stats::add(&app.stats().messages_published, 1);
    let id = message.id;
    app.send(Arc::new(Delivery::new(message)), &subscribers);
    Ok(id)
}

/// The retained messages after `after` (`None`: none, only `last_id`).
pub fn replay(app: &App, channel: &str, after: Option<u64>) -> Replay {
    app.shared.hub().replay(channel, after)
}

/// A long poll's start: the messages after `after` if there are any, else
/// parked on the channel until its next publish (`Err` holds the id waited
/// beyond).
pub fn replay_or_park(
    app: &App,
    channel: &str,
    after: Option<u64>,
    token: usize,
) -> Result<Replay, u64> {
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
    /// Catching up: messages up to this id exist and are not sent yet; they
    /// go out from the log as the output drains.
    behind: Option<u64>,
}

impl Subscription {
    /// Replays after `after` (`None`: from now) into `out` — as much as
    /// `--max-pending` allows, the rest as the output drains — and subscribes.
    pub fn start(
        channel: String,
        after: Option<u64>,
        transport: Transport,
        token: usize,
        out: &mut Vec<u8>,
        app: &App,
    ) -> Subscription {
        let replay =
            app.shared
                .hub()
                .replay_and_subscribe(&channel, after, app.subscriber(token, false));
        // Where the client stands: just before the first message it is sent.
        let position = replay
            .messages
            .first()
            .map_or(replay.last_id, |m| m.id.saturating_sub(1));
        transport.encode_ready(position, replay.last_id, out);
        let mut subscription = Subscription {
            channel,
            last_id: position,
            transport,
            behind: None,
        };
        if replay.gap {
            transport.encode_gap(out);
        }
        let newest = replay.messages.last().map_or(replay.last_id, |m| m.id);
        subscription.send_from(&replay.messages, newest, out, app);
        subscription
    }

    /// Encodes `messages` (the log after `last_id`) into `out` until the
    /// budget is spent — at least one, so that a message larger than the
    /// budget still goes — and records how far it got toward `newest`.
    fn send_from(&mut self, messages: &[Arc<Message>], newest: u64, out: &mut Vec<u8>, app: &App) {
        let budget = app.config().max_pending;
        let mut sent = 0;
        let from = self.last_id;
        for message in messages.iter().filter(|m| m.id > from) {
            if sent > 0 && out.len() >= budget {
                break;
            }
            self.transport.encode(message, out);
            self.last_id = message.id;
            sent += 1;
        }
        Stats::add(&app.stats().messages_delivered, sent);
        self.behind = Some(newest).filter(|&newest| newest > self.last_id);
    }

    /// The output drained: the next piece of a replay, if one is owed.
    pub fn on_drained(&mut self, out: &mut OutputQueue, app: &App) {
        let Some(newest) = self.behind else {
            return;
        };
        let replay = replay(app, &self.channel, Some(self.last_id));
        out.with_owned(|buf| {
            if replay.gap {
                // The log rolled past us while we caught up: say so, and go
                // on from the oldest message retained.
                self.transport.encode_gap(buf);
            }
            self.send_from(&replay.messages, newest.max(replay.last_id), buf, app);
        });
    }

    /// Queues a live delivery. Returns false when the subscriber has fallen
    /// too far behind (`--max-pending`) and should be closed; it loses
    /// nothing, since it can resume from its last id.
    pub fn deliver(&mut self, delivery: &Delivery, out: &mut OutputQueue, app: &App) -> bool {
        let id = delivery.message.id;
        if id <= self.last_id {
            return true;
        }
        if let Some(newest) = &mut self.behind {
            // Catching up: it goes out from the log in its turn.
            *newest = (*newest).max(id);
            return true;
        }
        if Some(id) == self.last_id.checked_add(1) {
            out.push_shared(delivery.bytes(self.transport));
            Stats::add(&app.stats().messages_delivered, 1);
            self.last_id = id;
        } else {
            // A hole (publishes on two loops raced): filled from the log,
            // within the budget like a replay.
            self.behind = Some(id);
            if out.pending() <= app.config().max_pending {
                self.on_drained(out, app);
            }
            return true;
        }
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
