//! ABAC policy text: both parsers must reject or accept any input without panicking, accepted
//! policies must print/parse round-trip, and evaluation must never panic.
#![no_main]
use airlock_abac::{Environment, Policy};
use libfuzzer_sys::fuzz_target;

fn env() -> Environment {
    Environment::from_attributes(
        "I0123456789abcdef",
        true,
        [
            ("mongodb-inlet".to_string(), "true".to_string()),
            ("team".to_string(), "a".to_string()),
            ("level".to_string(), "3".to_string()),
            ("identifier".to_string(), "Ispoofed".to_string()),
        ],
        [("name".to_string(), "db".to_string())],
    )
    .with("n", 5i64)
    .with("x", 1.5)
    .with("l", vec!["a", "b"])
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = env();
    for parsed in [Policy::parse(text), Policy::parse_boolean(text)] {
        match parsed {
            Ok(policy) => {
                let printed = policy.to_string();
                let again = Policy::parse(&printed).expect("printed policy parses");
                assert_eq!(again, policy, "round trip of {printed:?}");
                let decision = policy.evaluate(&env);
                assert_eq!(policy.allows(&env), decision == Ok(true));
            }
            Err(e) => {
                assert!(e.line >= 1 && e.column >= 1);
                let _ = e.render(text);
            }
        }
    }
});
