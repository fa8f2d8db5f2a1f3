//! The command line parses as documented.

use super::*;
use clap::CommandFactory;

/// `project relay release NAME` and friends parse, with `--project`.
#[test]
fn project_relay_commands_parse() {
    let cli = Cli::try_parse_from([
        "airlock",
        "project",
        "relay",
        "release",
        "db",
        "--project",
        "p",
    ])
    .expect("parses");
    let Command::Project(ProjectCmd::Relay(ProjectRelayCmd::Release { name, project })) =
        cli.command
    else {
        panic!("project relay release")
    };
    assert_eq!((name.as_str(), project.as_deref()), ("db", Some("p")));
    for args in [
        &["airlock", "project", "relay", "list"][..],
        &[
            "airlock", "--output", "json", "project", "relay", "show", "db",
        ][..],
    ] {
        Cli::try_parse_from(args).expect("parses");
    }
}

/// The database password can be given out of argv: a file, or an environment variable
/// named in the help.
#[test]
fn project_create_takes_the_database_password_out_of_argv() {
    let cli = Cli::try_parse_from([
        "airlock",
        "project",
        "create",
        "--database",
        "postgres://airlock@db/airlock",
        "--database-password-file",
        "/run/secrets/db",
    ])
    .expect("parses");
    let Command::Project(ProjectCmd::Create {
        database_password_file,
        ..
    }) = cli.command
    else {
        panic!("project create")
    };
    assert_eq!(
        database_password_file.as_deref(),
        Some(std::path::Path::new("/run/secrets/db"))
    );
    let mut cmd = Cli::command();
    let help = cmd
        .find_subcommand_mut("project")
        .and_then(|p| p.find_subcommand_mut("create"))
        .expect("project create")
        .render_long_help()
        .to_string();
    assert!(help.contains("--database-password-file"), "{help}");
    assert!(help.contains("AIRLOCK_DATABASE_PASSWORD"), "{help}");
    assert!(help.contains("chmod 600"), "{help}");
}

/// `--wait` on `tcp-inlet create` and `relay create`: absent, bare (30 s), or `=DURATION`;
/// a separate value is not taken (`require_equals`), and a bad duration is refused.
#[test]
fn wait_flags_parse_as_durations() {
    use std::time::Duration;
    let inlet_wait = |extra: &[&str]| -> Result<Option<Duration>, clap::Error> {
        let mut args = vec![
            "airlock",
            "tcp-inlet",
            "create",
            "--to",
            "/node/n/service/o",
        ];
        args.extend_from_slice(extra);
        let cli = Cli::try_parse_from(args)?;
        let Command::TcpInlet(InletCmd::Create { wait, .. }) = cli.command else {
            panic!("tcp-inlet create")
        };
        Ok(wait)
    };
    assert_eq!(inlet_wait(&[]).unwrap(), None);
    assert_eq!(
        inlet_wait(&["--wait"]).unwrap(),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        inlet_wait(&["--wait=2m"]).unwrap(),
        Some(Duration::from_secs(120))
    );
    assert!(inlet_wait(&["--wait", "5s"]).is_err(), "needs --wait=5s");
    assert!(inlet_wait(&["--wait=soon"]).is_err());

    let cli = Cli::try_parse_from(["airlock", "relay", "create", "db", "--wait=45s"]).unwrap();
    let Command::Relay(RelayCmd::Create { wait, .. }) = cli.command else {
        panic!("relay create")
    };
    assert_eq!(wait, Some(Duration::from_secs(45)));
}

/// The main commands end their `--help` with examples that parse as written.
#[test]
fn main_commands_show_examples() {
    let paths: [&[&str]; 12] = [
        &["node", "create"],
        &["node", "logs"],
        &["tcp-outlet", "create"],
        &["tcp-inlet", "create"],
        &["kafka-outlet", "create"],
        &["kafka-inlet", "create"],
        &["kafka-producer", "create"],
        &["project", "addon", "configure", "kafka"],
        &["project", "ticket"],
        &["project", "enroll"],
        &["relay", "create"],
        &["policy", "create"],
    ];
    for path in paths {
        let mut cmd = Cli::command();
        let mut sub = &mut cmd;
        for p in path {
            sub = sub.find_subcommand_mut(p).expect("subcommand");
        }
        let help = sub.render_help().to_string();
        assert!(help.contains("Examples:\n"), "{path:?}: {help}");
        let examples: Vec<&str> = help
            .split("Examples:\n")
            .nth(1)
            .unwrap()
            .lines()
            .filter(|l| l.trim_start().starts_with("airlock "))
            .collect();
        assert!(!examples.is_empty(), "{path:?}: {help}");
        for e in examples {
            let line = e.split(" # ").next().unwrap();
            let line = line.split(" > ").next().unwrap().trim();
            let words = line
                .split_whitespace()
                .map(|w| w.trim_matches(|c| c == '\'' || c == '"'))
                .collect::<Vec<_>>();
            // Quoted arguments with spaces are not split back here; those lines only need
            // their command to exist.
            if line.contains('\'') || line.contains('"') {
                continue;
            }
            Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }
}

/// `kafka-outlet create` and `kafka-inlet create`: their defaults, `--brokers-port-range`
/// with clear errors, `--to` or `--via` (not both), `--wait` as for TCP inlets.
#[test]
fn kafka_portal_commands_parse() {
    use std::time::Duration;
    let cli = Cli::try_parse_from(["airlock", "kafka-outlet", "create"]).unwrap();
    let Command::KafkaOutlet(KafkaOutletCmd::Create {
        name,
        bootstrap_server,
        tls,
        tls_ca_file,
        at,
    }) = cli.command
    else {
        panic!("kafka-outlet create")
    };
    assert_eq!(
        (name.as_str(), bootstrap_server.as_str(), at),
        ("kafka", "127.0.0.1:9092", None)
    );
    assert!(!tls && tls_ca_file.is_none(), "plaintext by default");
    let cli = Cli::try_parse_from([
        "airlock",
        "kafka-outlet",
        "create",
        "--bootstrap-server",
        "broker.example.com:9092",
        "--tls",
        "--tls-ca-file",
        "ca.pem",
    ])
    .unwrap();
    let Command::KafkaOutlet(KafkaOutletCmd::Create {
        tls, tls_ca_file, ..
    }) = cli.command
    else {
        panic!("kafka-outlet create --tls")
    };
    assert!(tls);
    assert_eq!(tls_ca_file, Some("ca.pem".into()));
    let e = Cli::try_parse_from([
        "airlock",
        "kafka-outlet",
        "create",
        "--tls-ca-file",
        "ca.pem",
    ])
    .unwrap_err();
    assert!(e.to_string().contains("--tls"), "{e}");

    let inlet = |extra: &[&str]| -> Result<KafkaInletCmd, clap::Error> {
        let mut args = vec!["airlock", "kafka-inlet", "create"];
        args.extend_from_slice(extra);
        match Cli::try_parse_from(args)?.command {
            Command::KafkaInlet(c) => Ok(c),
            other => panic!("{other:?}"),
        }
    };
    let KafkaInletCmd::Create {
        name,
        from,
        to,
        via,
        outlet,
        brokers_port_range,
        wait,
        ..
    } = inlet(&[]).unwrap()
    else {
        panic!("create")
    };
    assert_eq!((name, from.as_str()), (None, "127.0.0.1:9092"));
    assert_eq!((to, via, outlet.as_str()), (None, None, "kafka"));
    assert_eq!((brokers_port_range, wait), (None, None));
    let KafkaInletCmd::Create {
        name,
        brokers_port_range,
        wait,
        ..
    } = inlet(&[
        "--alias",
        "k",
        "--brokers-port-range",
        "19093-19099",
        "--wait=1m",
    ])
    .unwrap()
    else {
        panic!("create")
    };
    assert_eq!(name.as_deref(), Some("k"));
    assert_eq!(brokers_port_range, Some((19093, 19099)));
    assert_eq!(wait, Some(Duration::from_secs(60)));
    for (args, says) in [
        (&["--brokers-port-range", "9093"][..], "FIRST-LAST"),
        (&["--brokers-port-range", "9192-9093"][..], "above the last"),
        (
            &["--brokers-port-range", "9093-x"][..],
            "\"x\" is not a port",
        ),
        (
            &["--to", "/node/n1/secure/api", "--via", "kafka"][..],
            "cannot be used with",
        ),
        (
            &[
                "--encrypted-field",
                "secret",
                "--disable-content-encryption",
            ][..],
            "cannot be used with",
        ),
    ] {
        let e = inlet(args).unwrap_err().to_string();
        assert!(e.contains(says), "{args:?}: {e}");
    }
    // `--encrypted-field` repeats, in order; none by default.
    let KafkaInletCmd::Create {
        encrypted_fields, ..
    } = inlet(&["--encrypted-field", "secret", "--encrypted-field=pin"]).unwrap()
    else {
        panic!("create")
    };
    assert_eq!(encrypted_fields, ["secret", "pin"]);
    let KafkaInletCmd::Create {
        encrypted_fields, ..
    } = inlet(&[]).unwrap()
    else {
        panic!("create")
    };
    assert!(encrypted_fields.is_empty());
    let Command::KafkaProducer(KafkaClientCmd::Create(args)) = Cli::try_parse_from([
        "airlock",
        "kafka-producer",
        "create",
        "--encrypted-field",
        "card",
    ])
    .unwrap()
    .command
    else {
        panic!("kafka-producer create")
    };
    assert_eq!(args.encrypted_fields, ["card"]);
}

/// `--output` is one global option: accepted after any command, before or after its own args.
#[test]
fn output_is_one_global_option() {
    for args in [
        &["airlock", "node", "list", "--output", "json"][..],
        &["airlock", "--output", "json", "node", "list"][..],
        &[
            "airlock",
            "tcp-inlet",
            "show",
            "x",
            "--at",
            "n1",
            "--output",
            "plain",
        ][..],
        &["airlock", "project", "member", "list", "--output", "json"][..],
    ] {
        let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(
            cli.output == Output::Json,
            args.contains(&"json"),
            "{args:?}"
        );
    }
    // Defined once, on the top-level command only.
    let cmd = Cli::command();
    fn count(c: &clap::Command) -> usize {
        let here = c
            .get_arguments()
            .filter(|a| a.get_id() == "output" && !a.is_global_set())
            .count();
        here + c.get_subcommands().map(count).sum::<usize>()
    }
    assert_eq!(count(&cmd), 0, "a leaf repeats --output");
}

/// The short forms of seed 001: `kafka-producer create` / `kafka-consumer create` take the
/// local bootstrap address as --bootstrap-server; `project addon configure kafka` the cloud
/// broker's.
#[test]
fn kafka_short_forms_and_the_project_addon_parse() {
    for kind in ["kafka-producer", "kafka-consumer"] {
        let cli = Cli::try_parse_from(["airlock", kind, "create"]).unwrap();
        let (Command::KafkaProducer(KafkaClientCmd::Create(args))
        | Command::KafkaConsumer(KafkaClientCmd::Create(args))) = cli.command
        else {
            panic!("{kind} create")
        };
        assert_eq!(args.bootstrap_server, "127.0.0.1:9092");
        assert_eq!((args.name, args.to, args.via), (None, None, None));
        assert_eq!(args.outlet, "kafka");
        let cli = Cli::try_parse_from([
            "airlock",
            kind,
            "create",
            "--name",
            "p1",
            "--bootstrap-server",
            "127.0.0.1:19092",
            "--brokers-port-range",
            "19093-19099",
            "--to",
            "/project/default",
        ])
        .unwrap();
        let (Command::KafkaProducer(KafkaClientCmd::Create(args))
        | Command::KafkaConsumer(KafkaClientCmd::Create(args))) = cli.command
        else {
            panic!("{kind} create")
        };
        assert_eq!(args.name.as_deref(), Some("p1"));
        assert_eq!(args.bootstrap_server, "127.0.0.1:19092");
        assert_eq!(args.brokers_port_range, Some((19093, 19099)));
        assert_eq!(args.to.as_deref(), Some("/project/default"));
        assert!(
            Cli::try_parse_from(["airlock", kind, "create", "--to", "/x", "--via", "y"]).is_err()
        );
        assert!(Cli::try_parse_from(["airlock", kind, "list"]).is_ok());
        assert!(Cli::try_parse_from(["airlock", kind, "delete", "p1"]).is_ok());
    }
    let cli = Cli::try_parse_from([
        "airlock",
        "project",
        "addon",
        "configure",
        "kafka",
        "--bootstrap-server",
        "127.0.0.1:19191",
        "--tls",
        "--tls-ca-file",
        "ca.pem",
    ])
    .unwrap();
    let Command::Project(ProjectCmd::Addon(AddonCmd::Configure(KafkaAddonCmd::Kafka {
        bootstrap_server,
        tls,
        tls_ca_file,
        project,
    }))) = cli.command
    else {
        panic!("project addon configure kafka")
    };
    assert_eq!(bootstrap_server, "127.0.0.1:19191");
    assert!(tls);
    assert_eq!(tls_ca_file, Some("ca.pem".into()));
    assert_eq!(project, None);
    assert!(Cli::try_parse_from(["airlock", "project", "addon", "configure", "kafka"]).is_err());
    assert!(Cli::try_parse_from(["airlock", "project", "addon", "remove", "kafka"]).is_ok());
    assert!(Cli::try_parse_from(["airlock", "project", "addon", "remove", "mongo"]).is_err());
}
