//! Airlock attribute-based access control: a small S-expression policy language, sans-IO.
//!
//! A portal decides whether a peer may use it by evaluating a [`Policy`] against an
//! [`Environment`] built from the peer's identifier and credential attributes. Nothing here does
//! I/O; parsing and evaluation are pure functions of their inputs, and hostile input only ever
//! produces errors (bounded by [`MAX_INPUT_LEN`] and [`MAX_DEPTH`]).
//!
//! ```
//! use airlock_abac::{Environment, Policy};
//!
//! let policy = Policy::parse(
//!     r#"(and (= subject.mongodb-inlet "true") (member? subject.team ["a" "b"]))"#,
//! )?;
//! let env = Environment::from_attributes(
//!     "I6c20e814b56579306f55c64e8747e6c1b4a53d9a",
//!     true,
//!     [("mongodb-inlet".to_string(), "true".to_string()), ("team".into(), "a".into())],
//!     [("name".to_string(), "db".to_string())],
//! );
//! assert!(policy.allows(&env));
//!
//! // The `--allow` shorthand: bare names mean (= subject.NAME "true").
//! let allow = Policy::parse_boolean("mongodb-inlet and not banned")?;
//! assert_eq!(
//!     allow.to_string(),
//!     r#"(and (= subject.mongodb-inlet "true") (not (= subject.banned "true")))"#
//! );
//! # Ok::<(), airlock_abac::ParseError>(())
//! ```
//!
//! # The language
//!
//! A policy is one expression:
//!
//! * strings `"..."` with the escapes `\"`, `\\`, `\n`, `\t`;
//! * numbers: integers (`42`, `-3`, 64-bit) and floats (`1.5`, `-0.25`; a decimal point with
//!   digits on both sides, no exponents);
//! * booleans `true` and `false`;
//! * lists `[e1 e2 ...]` of any expressions;
//! * identifiers such as `subject.team` or `resource.name`: ASCII letters, digits, `.`, `-`,
//!   `_` and `:`, starting with a letter or `_` (the words `true`, `false`, `and`, `or`, `not`
//!   and `if` are not identifiers);
//! * calls `(op arg ...)` of these operators:
//!
//! | operator | arguments | meaning |
//! |---|---|---|
//! | `and` | any number | true if all are true (`(and)` is true) |
//! | `or` | any number | true if any is true (`(or)` is false) |
//! | `not` | 1 | negation |
//! | `if` | 3 | `(if cond then else)` |
//! | `=`, `!=` | 2 | equality, see below |
//! | `<`, `>` | 2 | numbers numerically, strings lexicographically; other types are an error |
//! | `member?` | 2 | `(member? element list)`: some list element `=` the element |
//! | `exists?` | 1 or more identifiers | true if all are defined in the environment |
//!
//! Whitespace is spaces, tabs and line breaks. [`Policy`]'s `Display` prints the canonical form
//! (single spaces, floats always with a point), which parses back to an equal policy.
//!
//! # Evaluation
//!
//! * An identifier not defined in the environment is an error, [`EvalError::Unbound`], except
//!   as an argument of `exists?`.
//! * `and`/`or`/`not`/`if` need boolean operands. `and` is false as soon as any operand is false
//!   and `or` true as soon as any is true, even if other operands fail; otherwise the first
//!   error wins. The outcome does not depend on operand order, and
//!   `(and (exists? subject.x) (= subject.x "y"))` is false, not an error, without `subject.x`.
//! * `=` compares same-typed values by value, integers and floats numerically, lists element by
//!   element. Credential attributes are strings, so a string compared with a boolean or number
//!   is compared with that value's canonical text: `(= subject.x true)` holds when `subject.x`
//!   is `"true"`, `(= subject.n 5)` when it is `"5"`, `(= subject.f 2.0)` when it is `"2.0"`.
//!   Other mixes (boolean with number, list with non-list) are errors, for `!=` too.
//! * The policy's value must be a boolean, otherwise [`EvalError::NotBoolean`].
//!
//! [`Policy::allows`] maps every error to "deny": access is granted only when the policy
//! evaluates to `true`.
//!
//! # Built-in names and spoofing
//!
//! Two names are reserved for the runtime: [`SUBJECT_IDENTIFIER`] (`subject.identifier`, the
//! peer's identifier, a string) and [`SUBJECT_HAS_CREDENTIAL`] (`subject.has_credential`, a
//! boolean). Credential attributes land in the same `subject.` namespace, so an attribute named
//! `identifier` would otherwise become `subject.identifier`. **An environment must therefore
//! insert the built-ins *after* the credential attributes**, so the runtime's values always
//! win; [`Environment::from_attributes`] does this, and additionally drops attributes named
//! `identifier` or `has_credential` outright. Attributes named `issuer` and `project` are
//! dropped too: the runtime sets [`SUBJECT_ISSUER`] and [`SUBJECT_PROJECT`] (who issued the
//! credential) after the attributes.
//!
//! # Errors
//!
//! [`ParseError`] carries a 1-based line and column and displays as
//! `1:17: expected ')' to close '(' opened at 1:1`; [`ParseError::render`] adds the source line
//! and a caret. Messages name the problem: unknown operators (listing the known ones), wrong
//! argument counts (`'not' takes 1 argument, got 2`), unterminated strings, trailing input,
//! empty expressions, nesting and length limits.

#![warn(missing_docs)]

mod ast;
mod env;
mod error;
mod eval;
mod lexer;
mod parser;
mod policy;
mod shorthand;
mod value;

pub use ast::{is_identifier, Arity, Expr, Op};
pub use env::{
    Environment, RESERVED_ATTRIBUTES, SUBJECT_HAS_CREDENTIAL, SUBJECT_IDENTIFIER, SUBJECT_ISSUER,
    SUBJECT_PROJECT,
};
pub use error::{EvalError, ParseError};
pub use policy::Policy;
pub use value::Value;

/// Deepest nesting of `(` and `[` a policy may have; deeper input is a [`ParseError`].
pub const MAX_DEPTH: usize = 64;

/// Longest policy text accepted, in bytes (64 KiB); longer input is a [`ParseError`].
pub const MAX_INPUT_LEN: usize = 64 * 1024;
