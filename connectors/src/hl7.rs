//! HL7 v2 instruments over MLLP (HL7 v2.5 Appendix C; acknowledgements §2.9; IHE LAW).
//!
//! A thin adapter: the link itself (framing, ACK modes, batches, host-query answers, downloads
//! and their deadlines) is the sans-IO state machine [`labwire_hl7::link::Link`]; this module
//! maps it onto the driver's [`Link`] trait, turns labwire's orders and query replies into its
//! terms, and maps messages to events ([`Connector::decode`]). See docs/hl7.md.

use crate::connector::Connector;
use crate::link::{Link, LinkCounters, LinkEvent, SendError, SendId, Token};
use bytes::BytesMut;
use labwire_event::{Event, InputError, Order, Origin, Protocol, QueryReply};
use labwire_hl7::ack::{OrderedTest, SpecimenOrder};
use labwire_hl7::canonical::{DecodeOptions, message_to_events};
use labwire_hl7::link::{self as hl7link, BatchSplit, LinkConfig, is_batch};
use labwire_hl7::mllp::FramerConfig;
use std::time::{Duration, Instant};

/// Settings of one HL7 instrument.
#[derive(Debug, Clone)]
pub struct Hl7Config {
    /// MLLP framing limits and the frame deadline.
    pub framer: FramerConfig,
    /// How received messages are decoded.
    pub decode: DecodeOptions,
    /// How long to wait for the ORL^O34 / ACK of a download (default 30 s).
    pub download_ack_timeout: Duration,
    /// MSH-3 of messages labwire originates.
    pub sending_application: String,
    /// MSH-5 of downloads (the instrument's application name).
    pub receiving_application: String,
    /// MSH-12 of messages labwire originates (default `2.5.1`).
    pub version: String,
}

impl Default for Hl7Config {
    fn default() -> Self {
        let link = LinkConfig::default();
        Self {
            framer: link.framer,
            decode: DecodeOptions::default(),
            download_ack_timeout: link.download_ack_timeout,
            sending_application: link.sending_application,
            receiving_application: link.receiving_application,
            version: link.version,
        }
    }
}

impl Hl7Config {
    /// The link's share of these settings.
    fn link(&self) -> LinkConfig {
        LinkConfig {
            framer: self.framer,
            limits: self.decode.limits,
            download_ack_timeout: self.download_ack_timeout,
            sending_application: self.sending_application.clone(),
            receiving_application: self.receiving_application.clone(),
            version: self.version.clone(),
        }
    }
}

/// The HL7 connector (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Hl7Connector {
    config: Hl7Config,
}

impl Hl7Connector {
    /// A connector with these settings.
    pub fn new(config: Hl7Config) -> Self {
        Self { config }
    }
}

impl Connector for Hl7Connector {
    type Link = Hl7Link;

    fn protocol(&self) -> Protocol {
        Protocol::Hl7
    }

    fn open_link(&self, now: Instant) -> Hl7Link {
        Hl7Link {
            inner: hl7link::Link::new(self.config.link(), now, jiff::Timestamp::now()),
        }
    }

    fn decode(&self, message: &[u8], origin: &Origin) -> Result<Vec<Event>, InputError> {
        if !is_batch(message) {
            return self.decode_one(message, origin, 0);
        }
        // The link hands batch members over one by one; a whole batch reaching here is one that
        // cannot be split, or a capture: decode what can be, or say why not.
        let split = BatchSplit::of(message);
        if let Some((reason, offset)) = split.problem {
            return Err(InputError {
                reason,
                offset: Some(offset as u64),
            });
        }
        let mut events = Vec::new();
        for (offset, bytes) in split.messages {
            events.extend(self.decode_one(bytes, origin, offset)?);
        }
        Ok(events)
    }
}

impl Hl7Connector {
    fn decode_one(
        &self,
        message: &[u8],
        origin: &Origin,
        base: usize,
    ) -> Result<Vec<Event>, InputError> {
        message_to_events(message, origin, &self.config.decode).map_err(|e| InputError {
            reason: e.to_string(),
            offset: Some((base + e.offset()) as u64),
        })
    }
}

/// [`Link`] over [`labwire_hl7::link::Link`].
#[derive(Debug)]
pub struct Hl7Link {
    inner: hl7link::Link,
}

fn specimen_order(o: &Order) -> SpecimenOrder {
    SpecimenOrder {
        patient: o.patient.clone(),
        specimen_id: o.specimen_id.clone(),
        specimen_type: o.specimen_type.clone(),
        placer_order_number: None,
        tests: o
            .tests
            .iter()
            .map(|t| OrderedTest {
                code: t.clone(),
                name: None,
                coding_system: None,
            })
            .collect(),
    }
}

fn link_event(ev: hl7link::LinkEvent) -> LinkEvent {
    match ev {
        hl7link::LinkEvent::Message { token, raw } => LinkEvent::Message {
            token: Token(token.0),
            raw,
        },
        hl7link::LinkEvent::Rejected {
            reason,
            offset,
            raw,
        } => LinkEvent::Rejected {
            reason,
            offset,
            raw,
        },
        hl7link::LinkEvent::Status { state, detail } => LinkEvent::Status {
            state,
            detail: Some(detail),
        },
        hl7link::LinkEvent::Sent(id) => LinkEvent::Sent(SendId(id.0)),
        hl7link::LinkEvent::SendFailed { id, reason } => LinkEvent::SendFailed {
            id: SendId(id.0),
            reason,
        },
    }
}

impl Link for Hl7Link {
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.inner.handle_input(now, bytes);
    }

    fn handle_end_of_input(&mut self, now: Instant) {
        self.inner.handle_end_of_input(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        let mut any = false;
        while let Some(bytes) = self.inner.poll_transmit() {
            out.extend_from_slice(&bytes);
            any = true;
        }
        any
    }

    fn poll_event(&mut self) -> Option<LinkEvent> {
        self.inner.poll_event().map(link_event)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn commit(&mut self, token: Token, now: Instant) {
        self.inner.commit(hl7link::Token(token.0), now);
    }

    fn reject(&mut self, token: Token, now: Instant) {
        self.inner.reject(hl7link::Token(token.0), now);
    }

    fn refuse(&mut self, token: Token, error: &InputError, now: Instant) {
        self.inner
            .refuse(hl7link::Token(token.0), &error.reason, now);
    }

    fn refuse_unstorable(&mut self, token: Token, error: &InputError, now: Instant) {
        self.inner
            .refuse_unstorable(hl7link::Token(token.0), &error.reason, now);
    }

    fn query_received(&mut self, _token: Token, _now: Instant) {
        // The answer (RSP^K11) is the acknowledgement.
    }

    fn answer_query(
        &mut self,
        token: Token,
        query: &Event,
        reply: Option<&QueryReply>,
        now: Instant,
    ) {
        let wanted = query
            .query
            .as_ref()
            .map(|q| q.specimen_ids.as_slice())
            .unwrap_or_default();
        let order = reply.and_then(|r| {
            r.orders
                .iter()
                .find(|o| wanted.contains(&o.specimen_id))
                .or_else(|| r.orders.first())
        });
        self.inner.answer_query(
            hl7link::Token(token.0),
            order.map(specimen_order).as_ref(),
            now,
        );
    }

    fn is_idle(&self) -> bool {
        self.inner.is_idle()
    }

    fn send_orders(&mut self, id: SendId, orders: &[Order], now: Instant) -> Result<(), SendError> {
        let orders: Vec<SpecimenOrder> = orders.iter().map(specimen_order).collect();
        self.inner
            .send_orders(hl7link::SendId(id.0), &orders, now)
            .map_err(|e| match e {
                hl7link::SendError::Busy => SendError::Busy,
                hl7link::SendError::Encode(reason) => SendError::Encode(reason),
            })
    }

    fn counters(&self) -> LinkCounters {
        let s = self.inner.stats();
        LinkCounters {
            naks_sent: s.naks_sent,
            naks_received: s.naks_received,
            timeouts: s.timeouts,
            ..LinkCounters::default()
        }
    }
}
