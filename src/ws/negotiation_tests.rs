//! Negotiation as a table: offer header(s), policy, the answer expected.

use super::*;

const ECHO: DeflatePolicy = DeflatePolicy::ContextTakeover;
const CHANNEL: DeflatePolicy = DeflatePolicy::NoServerContextTakeover;

fn answer(values: &[&str], policy: DeflatePolicy) -> Option<String> {
    negotiate(values.iter().map(|v| v.as_bytes()), policy).map(|p| p.response())
}

#[test]
fn answers_exactly_what_was_agreed() {
    let table: &[(&[&str], DeflatePolicy, Option<&str>)] = &[
        // No offer, or another extension only: nothing to answer.
        (&[], ECHO, None),
        (&["x-webkit-deflate-frame"], ECHO, None),
        // --ws-deflate off declines everything.
        (&["permessage-deflate"], DeflatePolicy::Off, None),
        // What browsers send (§7.1.2.2: client_max_window_bits is never answered
        // unless we want it, and we inflate with the full window).
        (
            &["permessage-deflate; client_max_window_bits"],
            ECHO,
            Some("permessage-deflate"),
        ),
        // §7.1.1.1: offered server_no_context_takeover must be answered.
        (
            &["permessage-deflate; server_no_context_takeover"],
            ECHO,
            Some("permessage-deflate; server_no_context_takeover"),
        ),
        // Channels add it unasked (broadcast encodes once).
        (
            &["permessage-deflate; client_max_window_bits"],
            CHANNEL,
            Some("permessage-deflate; server_no_context_takeover"),
        ),
        // §7.1.1.2: client_no_context_takeover is echoed.
        (
            &["permessage-deflate; client_no_context_takeover"],
            ECHO,
            Some("permessage-deflate; client_no_context_takeover"),
        ),
        // §7.1.2.1: server_max_window_bits answered with the same value.
        (
            &["permessage-deflate; server_max_window_bits=10"],
            ECHO,
            Some("permessage-deflate; server_max_window_bits=10"),
        ),
        (
            &["permessage-deflate; server_max_window_bits=\"8\"; client_max_window_bits=9"],
            CHANNEL,
            Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=8"),
        ),
        // Names and parameter names are case-insensitive; spaces are optional.
        (
            &["Permessage-Deflate;Server_No_Context_Takeover"],
            ECHO,
            Some("permessage-deflate; server_no_context_takeover"),
        ),
        // §5.1: the first acceptable offer wins; declined ones are skipped.
        (
            &["permessage-deflate; server_max_window_bits=7, permessage-deflate; client_no_context_takeover"],
            ECHO,
            Some("permessage-deflate; client_no_context_takeover"),
        ),
        (
            &["foo, permessage-deflate; server_max_window_bits=12, permessage-deflate"],
            ECHO,
            Some("permessage-deflate; server_max_window_bits=12"),
        ),
        // The header may be sent several times: one list.
        (
            &["permessage-deflate; mystery", "permessage-deflate"],
            ECHO,
            Some("permessage-deflate"),
        ),
        // Every offer malformed: run uncompressed.
        (&["permessage-deflate; server_max_window_bits"], ECHO, None),
    ];
    for (values, policy, expected) in table {
        assert_eq!(
            answer(values, *policy).as_deref(),
            *expected,
            "{values:?} {policy:?}"
        );
    }
}

#[test]
fn each_malformed_offer_is_declined_for_its_reason() {
    let table: &[(&str, Decline)] = &[
        // §7.1: a parameter not defined for use in an offer.
        (
            "permessage-deflate; max_window_bits=10",
            Decline::UnknownParameter,
        ),
        ("permessage-deflate; foo", Decline::UnknownParameter),
        // §7.1: an invalid value.
        (
            "permessage-deflate; server_max_window_bits",
            Decline::InvalidValue,
        ),
        (
            "permessage-deflate; server_max_window_bits=7",
            Decline::InvalidValue,
        ),
        (
            "permessage-deflate; server_max_window_bits=16",
            Decline::InvalidValue,
        ),
        (
            "permessage-deflate; server_max_window_bits=010",
            Decline::InvalidValue,
        ),
        (
            "permessage-deflate; server_max_window_bits=+9",
            Decline::InvalidValue,
        ),
        (
            "permessage-deflate; client_max_window_bits=0",
            Decline::InvalidValue,
        ),
        (
            "permessage-deflate; client_max_window_bits=abc",
            Decline::InvalidValue,
        ),
        (
            "permessage-deflate; server_no_context_takeover=1",
            Decline::InvalidValue,
        ),
        (
            "permessage-deflate; client_no_context_takeover=true",
            Decline::InvalidValue,
        ),
        // §7.1: the same parameter twice.
        (
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            Decline::Duplicate,
        ),
        (
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            Decline::Duplicate,
        ),
        // RFC 6455 §9.1 syntax.
        (
            "permessage-deflate; ; server_no_context_takeover",
            Decline::Malformed,
        ),
        (
            "permessage-deflate; server_max_window_bits=\"1 0\"",
            Decline::Malformed,
        ),
        ("permessage-deflate; =10", Decline::Malformed),
    ];
    for (offer, reason) in table {
        assert_eq!(
            parse_offers([offer.as_bytes()]),
            vec![Err(*reason)],
            "{offer}"
        );
    }
}

#[test]
fn every_parameter_is_read() {
    let offers = parse_offers([&b"permessage-deflate; server_no_context_takeover; \
        client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=\"11\", \
        permessage-deflate; client_max_window_bits"[..]]);
    assert_eq!(
        offers,
        vec![
            Ok(DeflateOffer {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: Some(9),
                client_max_window_bits: ClientWindow::AtMost(11),
            }),
            Ok(DeflateOffer {
                server_no_context_takeover: false,
                client_no_context_takeover: false,
                server_max_window_bits: None,
                client_max_window_bits: ClientWindow::Any,
            }),
        ]
    );
}

#[test]
fn a_comma_inside_quotes_does_not_split_offers() {
    // A quoted value is one value: its comma does not start a new offer,
    // and since it is not a token the offer is malformed.
    assert_eq!(
        parse_offers([&b"permessage-deflate; server_max_window_bits=\"9,permessage-deflate\""[..]]),
        vec![Err(Decline::Malformed)]
    );
}
