use super::*;
use airlock_identity::{IdentitySecret, PurposeKeySecret};
use airlock_wire::Packet;

const NOW: u64 = 1_800_000_000;

fn local(id: &IdentitySecret) -> LocalIdentity {
    let pk = PurposeKeySecret::create(id, NOW, 3600);
    LocalIdentity {
        history: id.history().encode(),
        attestation: pk.attestation.clone(),
        purpose_private: pk.private_bytes(),
        credentials: vec![b"cred".to_vec()],
    }
}

struct Run {
    i: Handshake,
    r: Handshake,
}

fn run(i_trust: TrustPolicy, r_trust: TrustPolicy) -> Result<Run, HandshakeError> {
    let alice = IdentitySecret::create(NOW);
    let bob = IdentitySecret::create(NOW);
    run_with(&local(&alice), &local(&bob), i_trust, r_trust)
}

fn run_with(
    a: &LocalIdentity,
    b: &LocalIdentity,
    i_trust: TrustPolicy,
    r_trust: TrustPolicy,
) -> Result<Run, HandshakeError> {
    let (mut i, m1) = Handshake::initiate(a, i_trust, RekeyPolicy::default())?;
    let mut r = Handshake::respond(b, r_trust, RekeyPolicy::default())?;
    let HandshakeStep::Send(m2) = r.read(&m1, NOW)? else {
        panic!("expected message 2")
    };
    let HandshakeStep::SendAndComplete(m3) = i.read(&m2, NOW)? else {
        panic!("expected message 3")
    };
    assert_eq!(r.read(&m3, NOW)?, HandshakeStep::Complete);
    Ok(Run { i, r })
}

#[test]
fn happy_path_binds_identities_and_keys_match() {
    let alice = IdentitySecret::create(NOW);
    let bob = IdentitySecret::create(NOW);
    let Run { i, r } = run_with(
        &local(&alice),
        &local(&bob),
        TrustPolicy::Identifiers(vec![bob.identifier()]),
        TrustPolicy::Everyone,
    )
    .unwrap();
    let (mut is, mut ir, ipeer) = i.finish().unwrap();
    let (mut rs, mut rr, rpeer) = r.finish().unwrap();
    assert_eq!(ipeer.identifier, bob.identifier());
    assert_eq!(rpeer.identifier, alice.identifier());
    assert_eq!(rpeer.credentials, vec![b"cred".to_vec()]);
    let mut p = Packet::copy_from(b"ping");
    is.seal(&mut p).unwrap();
    rr.open(&mut p).unwrap();
    assert_eq!(p.data(), b"ping");
    let mut q = Packet::copy_from(b"pong");
    rs.seal(&mut q).unwrap();
    ir.open(&mut q).unwrap();
    assert_eq!(q.data(), b"pong");
}

#[test]
fn wrong_authorized_identifier_is_refused_by_initiator() {
    let stranger = IdentitySecret::create(NOW).identifier();
    let err = run(
        TrustPolicy::Identifiers(vec![stranger]),
        TrustPolicy::Everyone,
    )
    .err()
    .unwrap();
    assert!(matches!(err, HandshakeError::Untrusted(_)), "{err}");
}

#[test]
fn wrong_authorized_identifier_is_refused_by_responder() {
    let stranger = IdentitySecret::create(NOW).identifier();
    let err = run(
        TrustPolicy::Everyone,
        TrustPolicy::Identifiers(vec![stranger]),
    )
    .err()
    .unwrap();
    assert!(matches!(err, HandshakeError::Untrusted(_)), "{err}");
}

#[test]
fn attestation_of_another_key_is_refused() {
    let alice = IdentitySecret::create(NOW);
    let bob = IdentitySecret::create(NOW);
    let mut b = local(&bob);
    // Bob presents a valid attestation, but handshakes with a different static key.
    let other = PurposeKeySecret::create(&bob, NOW, 3600);
    b.purpose_private = other.private_bytes();
    let err = run_with(
        &local(&alice),
        &b,
        TrustPolicy::Everyone,
        TrustPolicy::Everyone,
    )
    .err()
    .unwrap();
    assert_eq!(err, HandshakeError::KeyMismatch);
}

#[test]
fn someone_elses_history_is_refused() {
    let alice = IdentitySecret::create(NOW);
    let bob = IdentitySecret::create(NOW);
    let mallory = IdentitySecret::create(NOW);
    let mut m = local(&mallory);
    // Mallory claims to be Bob: Bob's history, Mallory's attestation.
    m.history = bob.history().encode();
    let err = run_with(
        &local(&alice),
        &m,
        TrustPolicy::Everyone,
        TrustPolicy::Everyone,
    )
    .err()
    .unwrap();
    assert!(matches!(err, HandshakeError::Identity(_)), "{err}");
}

#[test]
fn tampered_handshake_messages_are_rejected() {
    let alice = IdentitySecret::create(NOW);
    let bob = IdentitySecret::create(NOW);
    let (a, b) = (local(&alice), local(&bob));
    // Tamper each byte position of message 2 (sampled) and message 3.
    let (_, m1) = Handshake::initiate(&a, TrustPolicy::Everyone, RekeyPolicy::default()).unwrap();
    let mut r = Handshake::respond(&b, TrustPolicy::Everyone, RekeyPolicy::default()).unwrap();
    let HandshakeStep::Send(m2) = r.read(&m1, NOW).unwrap() else {
        panic!()
    };
    for pos in (1..m2.len()).step_by(7) {
        let (mut i2, m1b) =
            Handshake::initiate(&a, TrustPolicy::Everyone, RekeyPolicy::default()).unwrap();
        let mut r2 = Handshake::respond(&b, TrustPolicy::Everyone, RekeyPolicy::default()).unwrap();
        let HandshakeStep::Send(mut m2b) = r2.read(&m1b, NOW).unwrap() else {
            panic!()
        };
        m2b[pos] ^= 0x01;
        assert!(
            i2.read(&m2b, NOW).is_err(),
            "tamper at {pos} of message 2 accepted"
        );
        // A failed handshake stays failed.
        assert_eq!(i2.read(&m2b, NOW), Err(HandshakeError::NotInProgress));
    }
}

#[test]
fn replayed_message_1_to_a_used_responder_is_refused() {
    let alice = IdentitySecret::create(NOW);
    let bob = IdentitySecret::create(NOW);
    let (a, b) = (local(&alice), local(&bob));
    let (_, m1) = Handshake::initiate(&a, TrustPolicy::Everyone, RekeyPolicy::default()).unwrap();
    let mut r = Handshake::respond(&b, TrustPolicy::Everyone, RekeyPolicy::default()).unwrap();
    r.read(&m1, NOW).unwrap();
    assert!(r.read(&m1, NOW).is_err());
}

#[test]
fn expired_purpose_key_is_refused() {
    let alice = IdentitySecret::create(NOW);
    let bob = IdentitySecret::create(NOW);
    let a = local(&alice);
    let b = local(&bob);
    let (mut i, m1) =
        Handshake::initiate(&a, TrustPolicy::Everyone, RekeyPolicy::default()).unwrap();
    let mut r = Handshake::respond(&b, TrustPolicy::Everyone, RekeyPolicy::default()).unwrap();
    let HandshakeStep::Send(m2) = r.read(&m1, NOW).unwrap() else {
        panic!()
    };
    let err = i.read(&m2, NOW + 7200).unwrap_err();
    assert!(matches!(err, HandshakeError::Identity(_)), "{err}");
}

#[test]
fn interoperates_with_plain_snow_as_reference_peer() {
    // A plain snow initiator (no identity payload) drives our responder through message 2;
    // our responder must produce a message a reference Noise implementation can read.
    let bob = IdentitySecret::create(NOW);
    let b = local(&bob);
    let peer_key = snow::Builder::new(NOISE_PARAMS.parse().unwrap())
        .generate_keypair()
        .unwrap();
    let mut reference = snow::Builder::new(NOISE_PARAMS.parse().unwrap())
        .local_private_key(&peer_key.private)
        .prologue(PROLOGUE)
        .build_initiator()
        .unwrap();
    let mut buf = vec![0u8; 65535];
    let n = reference.write_message(&[], &mut buf).unwrap();
    let mut m1 = vec![0x01];
    m1.extend_from_slice(&buf[..n]);
    let mut r = Handshake::respond(&b, TrustPolicy::Everyone, RekeyPolicy::default()).unwrap();
    let HandshakeStep::Send(m2) = r.read(&m1, NOW).unwrap() else {
        panic!()
    };
    let mut payload = vec![0u8; 65535];
    let n = reference.read_message(&m2[1..], &mut payload).unwrap();
    // The payload the reference decrypted is Bob's identity payload, and the static key it
    // authenticated is Bob's attested purpose key.
    assert_eq!(&payload[..n], &encode_payload(&b)[..]);
    assert_eq!(
        reference.get_remote_static().unwrap(),
        &b.attestation.public_key
    );
}

proptest::proptest! {
    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400), kind in 0u8..4) {
        let bob = IdentitySecret::create(NOW);
        let mut r = Handshake::respond(&local(&bob), TrustPolicy::Everyone, RekeyPolicy::default()).unwrap();
        let mut msg = vec![kind];
        msg.extend_from_slice(&data);
        let _ = r.read(&msg, NOW);
    }
}
