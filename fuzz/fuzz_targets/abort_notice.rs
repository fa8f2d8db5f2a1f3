//! Channel abort notices: decoding never panics, and what decodes re-encodes to a notice that
//! decodes to the same value (unknown codes and invalid UTF-8 are normalised once).
#![no_main]
use airlock_channel::AbortNotice;
use airlock_portal::PortalFrame;
use airlock_wire::Packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(notice) = AbortNotice::decode(data) {
        assert!(AbortNotice::is_abort(data));
        assert!(notice.reason.chars().count() <= AbortNotice::MAX_REASON_CHARS);
        let again = AbortNotice::decode(&notice.encode()).expect("re-encoded notice decodes");
        assert_eq!(again, notice);
        // An abort notice is never also a portal frame: the runtime may check for it first.
        assert!(PortalFrame::decode(Packet::copy_from(data)).is_err());
    }
});
