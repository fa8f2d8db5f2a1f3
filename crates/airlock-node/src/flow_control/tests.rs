//! The access table of docs/protocol.md §2.1, checked rule by rule and by a property test.

use super::*;
use crate::message::ChannelPeer;
use airlock_identity::Identifier;
use proptest::prelude::*;
use std::sync::RwLock;

fn addr(s: &str) -> Address {
    Address::new(s).unwrap()
}

fn channel_origin(channel: &str, exposure: Exposure) -> Origin {
    Origin::Channel(Arc::new(ChannelPeer {
        identifier: Identifier([9; 20]),
        channel: addr(channel),
        credential: Arc::new(RwLock::new(None)),
        exposure: ExposureCell::new(exposure),
    }))
}

#[test]
fn senders_accept_only_local_origins() {
    let a = Access::Local;
    assert!(a.admits(&Origin::Local).is_ok());
    assert_eq!(
        a.admits(&Origin::Transport(addr("tcp.1"))),
        Err(Refusal::LocalOnly)
    );
    assert_eq!(
        a.admits(&channel_origin("sc.1.e", Exposure::Services)),
        Err(Refusal::LocalOnly)
    );
}

#[test]
fn via_accepts_only_its_own_hop() {
    let a = Access::Via(addr("tcp.7"));
    assert!(a.admits(&Origin::Transport(addr("tcp.7"))).is_ok());
    assert_eq!(
        a.admits(&Origin::Transport(addr("tcp.8"))),
        Err(Refusal::WrongHop)
    );
    // A channel whose encrypting address happens to be named like the hop is another hop kind,
    // but the comparison is by address: both are node-local and unique.
    assert_eq!(
        a.admits(&channel_origin("sc.7.e", Exposure::Services)),
        Err(Refusal::WrongHop)
    );
    let c = Access::Via(addr("sc.7.e"));
    assert!(c
        .admits(&channel_origin("sc.7.e", Exposure::Nothing))
        .is_ok());
    assert_eq!(
        c.admits(&channel_origin("sc.8.e", Exposure::Services)),
        Err(Refusal::WrongHop)
    );
}

#[test]
fn listener_takes_handshakes_from_connections_and_exposing_channels() {
    let a = Access::Listener;
    assert!(a.admits(&Origin::Transport(addr("tcp.1"))).is_ok());
    assert!(a
        .admits(&channel_origin("sc.1.e", Exposure::Listener))
        .is_ok());
    assert!(a
        .admits(&channel_origin("sc.1.e", Exposure::Services))
        .is_ok());
    assert_eq!(
        a.admits(&channel_origin("sc.1.e", Exposure::Nothing)),
        Err(Refusal::NotExposed)
    );
}

#[test]
fn services_need_a_channel_that_exposes_them() {
    let a = Access::Service;
    assert_eq!(
        a.admits(&Origin::Transport(addr("tcp.1"))),
        Err(Refusal::NotThroughChannel)
    );
    assert!(a
        .admits(&channel_origin("sc.1.e", Exposure::Services))
        .is_ok());
    for e in [Exposure::Nothing, Exposure::Listener] {
        assert_eq!(
            a.admits(&channel_origin("sc.1.e", e)),
            Err(Refusal::NotExposed)
        );
    }
}

#[test]
fn exposure_can_be_widened_on_a_live_peer() {
    let o = channel_origin("sc.1.e", Exposure::Nothing);
    assert!(Access::Listener.admits(&o).is_err());
    if let Origin::Channel(p) = &o {
        p.exposure.set(Exposure::Listener);
    }
    assert!(Access::Listener.admits(&o).is_ok());
    assert!(Access::Service.admits(&o).is_err());
}

fn any_origin() -> impl Strategy<Value = Origin> {
    prop_oneof![
        Just(Origin::Local),
        (0u8..4).prop_map(|n| Origin::Transport(addr(&format!("tcp.{n}")))),
        ((0u8..4), (0u8..3))
            .prop_map(|(n, e)| channel_origin(&format!("sc.{n}.e"), Exposure::from_u8(e))),
    ]
}

fn any_access() -> impl Strategy<Value = Access> {
    prop_oneof![
        Just(Access::Local),
        Just(Access::Listener),
        Just(Access::Service),
        (0u8..4).prop_map(|n| Access::Via(addr(&format!("tcp.{n}")))),
        (0u8..4).prop_map(|n| Access::Via(addr(&format!("sc.{n}.e")))),
    ]
}

proptest! {
    /// Whatever the rule and the origin: nothing from the wire reaches a local-only address,
    /// bare TCP never reaches a service, a channel reaches a service only when it exposes
    /// services, and a hop-bound address admits no other hop.
    #[test]
    fn wire_origins_never_reach_what_they_may_not(access in any_access(), origin in any_origin()) {
        let ok = access.admits(&origin).is_ok();
        match (&access, &origin) {
            (_, Origin::Local) => prop_assert!(ok),
            (Access::Local, _) => prop_assert!(!ok),
            (Access::Service, Origin::Transport(_)) => prop_assert!(!ok),
            (Access::Service, Origin::Channel(p)) => {
                prop_assert_eq!(ok, p.exposure.get() == Exposure::Services)
            }
            (Access::Listener, Origin::Transport(_)) => prop_assert!(ok),
            (Access::Listener, Origin::Channel(p)) => {
                prop_assert_eq!(ok, p.exposure.get() != Exposure::Nothing)
            }
            (Access::Via(h), o) => prop_assert_eq!(ok, o.hop() == Some(h)),
        }
    }
}
