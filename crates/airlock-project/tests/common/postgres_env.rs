//! Whether a PostgreSQL test runs, shared by the store's unit tests (`#[path]`) and the
//! integration tests: a test that needs a server and finds none must not pass silently in CI.

/// True when `CI=true` or `AIRLOCK_REQUIRE_POSTGRES=1`: PostgreSQL tests must run.
fn required() -> bool {
    let set = |name: &str, yes: &[&str]| {
        std::env::var(name).is_ok_and(|v| yes.iter().any(|y| v.eq_ignore_ascii_case(y)))
    };
    set("CI", &["true", "1"]) || set("AIRLOCK_REQUIRE_POSTGRES", &["1", "true"])
}

/// Decides whether PostgreSQL test `test` runs: true when one of `vars` is set. Otherwise it
/// fails the test in CI (`CI=true`) or with `AIRLOCK_REQUIRE_POSTGRES=1`, and elsewhere says on
/// stderr that the test is skipped and returns false.
pub fn postgres_enabled(test: &str, vars: &[&str]) -> bool {
    if vars.iter().any(|v| std::env::var_os(v).is_some()) {
        return true;
    }
    let how = format!(
        "set {}=postgres://user@host:port/database (tests/scenarios/project_postgres.sh shows how \
         to start a server)",
        vars[0]
    );
    assert!(
        !required(),
        "{test}: PostgreSQL tests are required here (CI=true or AIRLOCK_REQUIRE_POSTGRES=1) \
         but {} is unset: {how}",
        vars.join(" / ")
    );
    eprintln!("SKIPPED {test}: no PostgreSQL server; {how}");
    false
}
