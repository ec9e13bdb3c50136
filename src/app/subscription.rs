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
use crate::hub::{Message, PollOutcome, Replay, Subscriber};
use crate::output::OutputQueue;
use crate::server::{Address, Close};
use crate::stats::{Count, Stats};
use crate::store::{NewMessage, StoreError};
use crate::ws::frame::FrameHeader;

/// A new channel would exceed `--max-channels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyChannels;

/// Whether `channel` is in memory or may be added (`--max-channels` bounds
/// the channels the hub holds; an idle one evicted to the store counts no more).
pub fn room_for(app: &App, channel: &str) -> Result<(), TooManyChannels> {
    let hub = app.shared.hub();
    if hub.has_channel(channel) || hub.channel_count() < app.config().max_channels {
        return Ok(());
    }
    drop(hub);
    app.stats().count(Count::RefusedMaxChannels);
    Err(TooManyChannels)
}

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
    if let Some(relay) = &app.shared.relay {
        // Shared through Redis: the relay's writer commits, and every
        // message comes back to subscribers through its reader.
        let here = app.event_loop;
        let publishers = publishers
            .into_iter()
            .map(|p| {
                p.map(|token| Address {
                    event_loop: here,
                    token,
                })
            })
            .collect();
        // Requests on these channels wait for the writer (`must_load`).
        app.shared.hub().publishing(&batch);
        relay.publish(batch, publishers);
        return;
    }
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

/// Whether a request must wait for `channel` to be loaded ([`load`]) before
/// it is served from memory: never, but with `--redis`. `loads`: how many
/// loads the request waited for already.
pub fn must_load(app: &App, channel: &str, loads: u8) -> bool {
    let hub = app.shared.hub();
    // A load is also the way to wait for this node's publishes already on
    // their way to the store (the relay does both in order), so that a
    // request sees what was published before it. Once is enough: by then
    // those are through, and waiting for newer ones could go on forever.
    !hub.is_loaded(channel) || (loads == 0 && hub.has_publishes_in_flight(channel))
}

/// Asks the relay to bring `channel` into the hub; the connection `token`
/// is mailed [`Mail::Loaded`] when it is there.
pub fn load(app: &App, channel: String, token: usize) {
    if let Some(relay) = &app.shared.relay {
        let to = Address {
            event_loop: app.event_loop,
            token,
        };
        relay.load(channel, to);
    }
}

/// A request that had `channel` loaded is done: if it did not subscribe,
/// the channel leaves the hub again (with `--redis`; else nothing).
pub fn release(app: &App, channel: &str) {
    app.shared.hub().release(channel);
}

/// Removes messages older than `--retain-for` from the store and the
/// windows; returns how many went.
pub fn trim_expired(app: &App) -> Result<u64, StoreError> {
    let now_ms = app.unix_millis();
    app.shared.hub().trim_expired(now_ms)
}

/// The retained messages after `after` (`None`: none, only `last_id`).
pub fn replay(app: &App, channel: &str, after: Option<u64>) -> Result<Replay, StoreError> {
    app.shared.hub().replay(channel, after)
}

/// A long poll's start: the messages after `after` (or a gap) if there are
/// any, else parked on the channel until its next publish.
pub fn replay_or_park(
    app: &App,
    channel: &str,
    after: Option<u64>,
    token: usize,
) -> Result<PollOutcome, StoreError> {
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
        // Where the client stands: just before the first message it is sent.
        let position = replay
            .messages
            .first()
            .map_or(replay.last_id, |m| m.id.saturating_sub(1));
        let subscription = Subscription {
            channel,
            last_id: position,
            transport,
            behind: None,
        };
        Ok((subscription, replay))
    }

    /// The opening that says where the client stands, the gap marker when
    /// its id is older than the log, and the replay — as much of it as
    /// `--max-pending` allows, the rest as the output drains.
    pub fn write_opening(&mut self, replay: &Replay, out: &mut Vec<u8>, app: &App) {
        self.transport
            .encode_ready(self.last_id, replay.last_id, out);
        if replay.gap {
            self.transport.encode_gap(out);
        }
        let newest = replay.messages.last().map_or(replay.last_id, |m| m.id);
        self.send_from(&replay.messages, newest, out, app);
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
    /// `Close::Now` when the store cannot be read: the subscriber resumes
    /// from its last id, losing nothing.
    pub fn on_drained(&mut self, out: &mut OutputQueue, app: &App) -> Close {
        let Some(newest) = self.behind else {
            return Close::Open;
        };
        let Ok(replay) = replay(app, &self.channel, Some(self.last_id)) else {
            return Close::Now;
        };
        out.with_owned(|buf| {
            if replay.gap {
                // The log rolled past us while we caught up: say so, and go
                // on from the oldest message retained.
                self.transport.encode_gap(buf);
            }
            self.send_from(&replay.messages, newest.max(replay.last_id), buf, app);
        });
        Close::Open
    }

    /// Queues a live delivery. Returns false when the subscriber has fallen
    /// too far behind (`--max-pending`) and should be closed; it loses
    /// nothing, since it can resume from its last id. Behind means bytes
    /// already waiting when the message came: like a replay piece, one
    /// message may take the output past the budget, so a client that reads
    /// promptly is never cut for a message larger than `--max-pending`.
    pub fn deliver(&mut self, delivery: &Delivery, out: &mut OutputQueue, app: &App) -> bool {
        let within_budget = out.pending() <= app.config().max_pending;
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
            let bytes = delivery.bytes(self.transport);
            if let Transport::WebSocketDeflate { .. } = self.transport {
                count_deflated_frame(&delivery.message, &bytes, app);
            }
            out.push_shared(bytes);
            Stats::add(&app.stats().messages_delivered, 1);
            self.last_id = id;
        } else {
            // A hole (publishes on two loops raced): filled from the log,
            // within the budget like a replay. A failed read closes the
            // subscriber, which resumes from its last id.
            self.behind = Some(id);
            if within_budget {
                return self.on_drained(out, app) == Close::Open;
            }
            return true;
        }
        within_budget
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

/// `/stats`: a shared compressed frame's payload, before and after.
fn count_deflated_frame(message: &Message, frame: &[u8], app: &App) {
    if let Ok(Some((header, _))) = FrameHeader::parse(frame) {
        let compressed = usize::try_from(header.payload_len).unwrap_or(usize::MAX);
        super::websocket::count_deflated(app, message.json.len(), compressed);
    }
}
