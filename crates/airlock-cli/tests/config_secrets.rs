//! `airlock node create FILE`: an error about a value that came from an environment variable
//! names the variable and never prints the value (it may be a secret, e.g. a ticket).

mod common;

use common::Home;

/// A secret-looking value: long enough that a truncated echo of it would also be caught.
const SECRET: &str = "sk_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0";

/// A fresh home folder holding the node file `airlock.yaml`, removed on drop.
struct Case(Home);

impl Case {
    fn new(tag: &str, yaml: &str) -> Self {
        let home = Home::new(&format!("cfgsecret-{tag}"));
        std::fs::write(home.path().join("airlock.yaml"), yaml).unwrap();
        Case(home)
    }

    /// Runs `airlock node create FILE` with `vars` set; returns its stderr (it must fail).
    fn fails(&self, vars: &[(&str, &str)]) -> String {
        let file = self.0.path().join("airlock.yaml");
        let mut cmd = self.0.command(&["node", "create", file.to_str().unwrap()]);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("runs airlock");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!out.status.success(), "should fail: {err}");
        assert_no_secret(&stdout);
        err
    }
}

/// Neither the secret nor a recognisable part of it (a 16-byte prefix or suffix).
fn assert_no_secret(text: &str) {
    for part in [SECRET, &SECRET[..16], &SECRET[SECRET.len() - 16..]] {
        assert!(!text.contains(part), "leaks {part:?}: {text}");
    }
}

#[test]
fn bad_ticket_names_its_variable() {
    let case = Case::new("ticket", "name: bank\nticket: ${ENROLLMENT_TICKET}\n");
    let err = case.fails(&[("ENROLLMENT_TICKET", SECRET)]);
    assert_no_secret(&err);
    assert!(
        err.contains("ticket (from ${ENROLLMENT_TICKET}) is not a valid ticket"),
        "{err}"
    );
    // Also a ticket-shaped value (the decoder's own messages would quote its start).
    let ticket = format!("airlock-ticket:{SECRET}");
    let err = case.fails(&[("ENROLLMENT_TICKET", &ticket)]);
    assert_no_secret(&err);
    assert!(
        err.contains("ticket (from ${ENROLLMENT_TICKET}) is not a valid ticket: the text after 'airlock-ticket:' is not hexadecimal"),
        "{err}"
    );
}

#[test]
fn bad_listener_address_names_its_variable() {
    let case = Case::new("listen", "name: bank\ntcp-listener-address: ${LISTEN}\n");
    let err = case.fails(&[("LISTEN", SECRET)]);
    assert_no_secret(&err);
    assert!(
        err.contains("tcp-listener-address (from ${LISTEN}) is not IP:PORT"),
        "{err}"
    );
}

#[test]
fn bad_routes_and_names_name_their_variables() {
    let case = Case::new(
        "relay",
        "name: bank\nrelay:\n  - { name: edge, at: \"/bogus/${AT}\" }\n",
    );
    let err = case.fails(&[("AT", SECRET)]);
    assert_no_secret(&err);
    assert!(err.contains("at (from ${AT})"), "{err}");

    let case = Case::new("relayname", "name: bank\nrelay: \"${RELAY}\"\n");
    let err = case.fails(&[("RELAY", &format!("{SECRET} x"))]);
    assert_no_secret(&err);
    assert!(err.contains("relay name (from ${RELAY})"), "{err}");

    let case = Case::new(
        "inlet",
        "name: bank\ntcp-inlets:\n  db: { from: \"${FROM}\", to: /service/x }\n",
    );
    let err = case.fails(&[("FROM", SECRET)]);
    assert_no_secret(&err);
    assert!(err.contains("from (from ${FROM}) is not IP:PORT"), "{err}");

    let case = Case::new("nodename", "name: ${NODE}\n");
    let err = case.fails(&[("NODE", &format!("{SECRET}/x"))]);
    assert_no_secret(&err);
    assert!(err.contains("name (from ${NODE})"), "{err}");
}

#[test]
fn yaml_errors_about_a_value_or_key_name_its_variable() {
    // An unknown key.
    let case = Case::new("key", "name: bank\n${KEY}: 1\n");
    let err = case.fails(&[("KEY", SECRET)]);
    assert_no_secret(&err);
    assert!(err.contains("${KEY}"), "{err}");
    // A value of the wrong type (serde quotes it, escaped).
    let case = Case::new("type", "name: bank\npolicies: \"${P}\"\n");
    let err = case.fails(&[("P", &format!("{SECRET}\\\"q"))]);
    assert_no_secret(&err);
    assert!(err.contains("${P}"), "{err}");
    // A policy expression.
    let case = Case::new(
        "policy",
        "name: bank\npolicies:\n  - resource-type: tcp-outlet\n    expression: '(= subject.x \"${TOKEN}\"'\n",
    );
    let err = case.fails(&[("TOKEN", SECRET)]);
    assert_no_secret(&err);
    assert!(err.contains("expression (from ${TOKEN})"), "{err}");
}

#[test]
fn values_written_in_the_file_are_still_shown() {
    let case = Case::new("plain", "name: bank\ntcp-listener-address: nowhere\n");
    let err = case.fails(&[]);
    assert!(
        err.contains("tcp-listener-address \"nowhere\" is not IP:PORT"),
        "{err}"
    );
}
