//! Two link cores wired back to back in memory: every frame one transmits, the other handles.

use super::*;

/// Moves every queued transmit of `from` into `to`; returns how many moved.
fn pump(from: &mut LinkCore, to: &mut LinkCore) -> usize {
    let mut n = 0;
    while let Some(f) = from.poll_transmit() {
        to.handle_frame(f);
        n += 1;
    }
    n
}

fn events(core: &mut LinkCore) -> Vec<LinkEvent> {
    std::iter::from_fn(|| core.poll_event()).collect()
}

/// An inlet and an outlet that completed Hello / HelloAck.
fn linked() -> (LinkCore, LinkCore) {
    let mut inlet = LinkCore::inlet();
    let hello = inlet.poll_transmit().expect("hello");
    let PortalFrame::Hello { window } = hello else {
        panic!("{hello:?}")
    };
    assert_eq!(window, DEFAULT_WINDOW);
    let mut outlet = LinkCore::outlet(window);
    assert_eq!(pump(&mut outlet, &mut inlet), 1);
    assert_eq!(
        events(&mut inlet),
        vec![LinkEvent::Connected {
            peer_window: DEFAULT_WINDOW
        }]
    );
    assert_eq!(inlet.state(), LinkState::Open);
    (inlet, outlet)
}

fn open(inlet: &mut LinkCore, outlet: &mut LinkCore) -> u32 {
    let (id, frame) = inlet.open_stream().expect("open inlet link");
    outlet.handle_frame(frame);
    assert_eq!(events(outlet), vec![LinkEvent::StreamOpened { stream: id }]);
    id
}

fn data(stream: u32, n: usize) -> PortalFrame {
    PortalFrame::Data {
        stream,
        data: Packet::copy_from(&vec![0xab; n]),
    }
}

#[test]
fn hello_windows_are_capped() {
    let outlet = LinkCore::outlet(u32::MAX);
    assert_eq!(outlet.peer_window(), MAX_WINDOW);
    let mut inlet = LinkCore::inlet();
    inlet.poll_transmit();
    inlet.handle_frame(PortalFrame::HelloAck { window: u32::MAX });
    assert_eq!(
        events(&mut inlet),
        vec![LinkEvent::Connected {
            peer_window: MAX_WINDOW
        }]
    );
    // A second HelloAck changes nothing.
    inlet.handle_frame(PortalFrame::HelloAck { window: 1 });
    assert!(events(&mut inlet).is_empty());
    assert_eq!(inlet.peer_window(), MAX_WINDOW);
}

#[test]
fn refused_hello_closes_the_inlet_link() {
    let mut inlet = LinkCore::inlet();
    inlet.poll_transmit();
    assert!(inlet.open_stream().is_none(), "no streams before HelloAck");
    inlet.handle_frame(PortalFrame::Reset {
        stream: 0,
        reason: ResetReason::Refused,
    });
    assert_eq!(
        events(&mut inlet),
        vec![LinkEvent::HelloRefused(ResetReason::Refused)]
    );
    assert_eq!(inlet.state(), LinkState::Closed);
    assert_eq!(inlet.close(), None);
}

#[test]
fn data_flows_within_the_window_and_credit_returns() {
    let (mut inlet, mut outlet) = linked();
    let id = open(&mut inlet, &mut outlet);
    assert_eq!(id, 1);
    let w = DEFAULT_WINDOW as u64;
    assert_eq!(inlet.send_available(id), w);
    // Fill the window in 256 KiB chunks.
    let chunk = crate::MAX_CHUNK;
    let mut sent = 0u64;
    while inlet.send_available(id) > 0 {
        let n = (inlet.send_available(id) as usize).min(chunk);
        inlet.on_sent(id, n as u64);
        outlet.handle_frame(data(id, n));
        sent += n as u64;
    }
    assert_eq!(sent, w);
    let got = events(&mut outlet);
    assert_eq!(got.len(), (w as usize).div_ceil(chunk));
    assert!(got
        .iter()
        .all(|e| matches!(e, LinkEvent::Data { stream, .. } if *stream == id)));
    // The socket takes a quarter of the window: one Credit for exactly that.
    outlet.consumed(id, w / 4 - 1);
    assert_eq!(outlet.poll_transmit(), None);
    outlet.consumed(id, 1);
    assert_eq!(
        outlet.poll_transmit(),
        Some(PortalFrame::Credit {
            stream: id,
            bytes: (w / 4) as u32
        })
    );
    outlet.consumed(id, 0);
    assert_eq!(outlet.poll_transmit(), None);
    inlet.handle_frame(PortalFrame::Credit {
        stream: id,
        bytes: (w / 4) as u32,
    });
    assert_eq!(events(&mut inlet), vec![LinkEvent::Credit { stream: id }]);
    assert_eq!(inlet.send_available(id), w / 4);
    assert_eq!(outlet.violations(), 0);
}

#[test]
fn data_beyond_the_window_is_refused_on_both_sides() {
    let (mut inlet, mut outlet) = linked();
    let id = open(&mut inlet, &mut outlet);
    outlet.handle_frame(data(id, DEFAULT_WINDOW as usize));
    events(&mut outlet);
    outlet.handle_frame(data(id, 1));
    assert_eq!(
        events(&mut outlet),
        vec![LinkEvent::StreamReset {
            stream: id,
            reason: ResetReason::Refused
        }]
    );
    assert!(!outlet.has_stream(id));
    assert_eq!(outlet.violations(), 1);
    assert_eq!(pump(&mut outlet, &mut inlet), 1);
    assert_eq!(
        events(&mut inlet),
        vec![LinkEvent::StreamReset {
            stream: id,
            reason: ResetReason::Refused
        }]
    );
    assert!(!inlet.has_stream(id));
    // Frames for the gone stream are ignored.
    outlet.handle_frame(data(id, 1));
    assert!(events(&mut outlet).is_empty());
    assert_eq!(outlet.poll_transmit(), None);
}

#[test]
fn credit_beyond_what_was_sent_is_refused() {
    let (mut inlet, mut outlet) = linked();
    let id = open(&mut inlet, &mut outlet);
    inlet.on_sent(id, 10);
    inlet.handle_frame(PortalFrame::Credit {
        stream: id,
        bytes: 11,
    });
    assert_eq!(
        events(&mut inlet),
        vec![LinkEvent::StreamReset {
            stream: id,
            reason: ResetReason::Refused
        }]
    );
    assert_eq!(
        inlet.poll_transmit(),
        Some(PortalFrame::Reset {
            stream: id,
            reason: ResetReason::Refused
        })
    );
}

#[test]
fn only_the_outlet_accepts_open_and_duplicates_are_ignored() {
    let (mut inlet, mut outlet) = linked();
    inlet.handle_frame(PortalFrame::Open { stream: 7 });
    assert!(events(&mut inlet).is_empty());
    assert!(!inlet.has_stream(7));
    outlet.handle_frame(PortalFrame::Open { stream: 7 });
    outlet.handle_frame(PortalFrame::Open { stream: 7 });
    assert_eq!(
        events(&mut outlet),
        vec![LinkEvent::StreamOpened { stream: 7 }]
    );
    assert!(
        outlet.open_stream().is_none(),
        "the outlet opens no streams"
    );
}

#[test]
fn the_stream_limit_refuses_further_opens() {
    let (_inlet, mut outlet) = linked();
    for id in 1..=MAX_STREAMS_PER_LINK as u32 {
        outlet.handle_frame(PortalFrame::Open { stream: id });
    }
    assert_eq!(outlet.stream_count(), MAX_STREAMS_PER_LINK);
    events(&mut outlet);
    let over = MAX_STREAMS_PER_LINK as u32 + 1;
    outlet.handle_frame(PortalFrame::Open { stream: over });
    assert_eq!(
        events(&mut outlet),
        vec![LinkEvent::StreamLimit { stream: over }]
    );
    assert_eq!(
        outlet.poll_transmit(),
        Some(PortalFrame::Reset {
            stream: over,
            reason: ResetReason::Refused
        })
    );
    // A stream that ends makes room.
    outlet.remove_stream(1);
    outlet.handle_frame(PortalFrame::Open { stream: over });
    assert_eq!(
        events(&mut outlet),
        vec![LinkEvent::StreamOpened { stream: over }]
    );
}

#[test]
fn a_full_inlet_link_opens_no_further_stream() {
    let (mut inlet, mut outlet) = linked();
    for _ in 0..MAX_STREAMS_PER_LINK {
        open(&mut inlet, &mut outlet);
    }
    assert!(inlet.is_full());
    assert_eq!(inlet.open_stream(), None, "the outlet would refuse it");
    // A stream that ends makes room, and the outlet accepts the next one.
    inlet.remove_stream(1);
    outlet.remove_stream(1);
    assert!(!inlet.is_full());
    let id = open(&mut inlet, &mut outlet);
    assert!(outlet.has_stream(id));
}

#[test]
fn fin_reset_and_ping() {
    let (mut inlet, mut outlet) = linked();
    let a = open(&mut inlet, &mut outlet);
    let b = open(&mut inlet, &mut outlet);
    outlet.handle_frame(inlet.finish_stream(a));
    assert_eq!(events(&mut outlet), vec![LinkEvent::Finished { stream: a }]);
    assert!(outlet.has_stream(a), "half-closed, not gone");
    let reset = outlet.reset_stream(b, ResetReason::ConnectFailed);
    assert!(!outlet.has_stream(b));
    inlet.handle_frame(reset);
    assert_eq!(
        events(&mut inlet),
        vec![LinkEvent::StreamReset {
            stream: b,
            reason: ResetReason::ConnectFailed
        }]
    );
    // Unknown streams: ignored.
    inlet.handle_frame(PortalFrame::Fin { stream: 99 });
    inlet.handle_frame(PortalFrame::Reset {
        stream: 99,
        reason: ResetReason::Refused,
    });
    assert!(events(&mut inlet).is_empty());
    inlet.handle_frame(PortalFrame::Ping(42));
    assert_eq!(inlet.poll_transmit(), Some(PortalFrame::Pong(42)));
}

#[test]
fn closing_resets_every_stream_and_tells_the_peer() {
    let (mut inlet, mut outlet) = linked();
    let a = open(&mut inlet, &mut outlet);
    let b = open(&mut inlet, &mut outlet);
    let bye = outlet.close().expect("first close");
    assert_eq!(
        events(&mut outlet),
        vec![
            LinkEvent::StreamReset {
                stream: a,
                reason: ResetReason::Shutdown
            },
            LinkEvent::StreamReset {
                stream: b,
                reason: ResetReason::Shutdown
            },
            LinkEvent::Closed(CloseReason::Local),
        ]
    );
    assert_eq!(outlet.close(), None);
    inlet.handle_frame(bye);
    assert_eq!(
        events(&mut inlet),
        vec![
            LinkEvent::StreamReset {
                stream: a,
                reason: ResetReason::Shutdown
            },
            LinkEvent::StreamReset {
                stream: b,
                reason: ResetReason::Shutdown
            },
            LinkEvent::Closed(CloseReason::Peer(ResetReason::Shutdown)),
        ]
    );
    assert_eq!(inlet.state(), LinkState::Closed);
    // A closed link ignores everything.
    inlet.handle_frame(PortalFrame::Ping(1));
    assert_eq!(inlet.poll_transmit(), None);
    assert!(inlet.open_stream().is_none());
}
