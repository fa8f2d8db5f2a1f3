//! [`Policy`]: a parsed, checked policy and the access decision it makes.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::ast::Expr;
use crate::env::Environment;
use crate::error::{EvalError, ParseError};
use crate::{eval, parser, shorthand};

/// A parsed policy. `Display` prints its canonical S-expression, which parses back to an equal
/// policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    expr: Expr,
}

impl Policy {
    /// Parses the S-expression syntax, e.g. `(= subject.mongodb-inlet "true")`.
    pub fn parse(src: &str) -> Result<Policy, ParseError> {
        parser::parse(src).map(|expr| Policy { expr })
    }

    /// Parses the boolean shorthand of `--allow`, e.g. `a and not b or (c and d)`, where a bare
    /// name `NAME` means `(= subject.NAME "true")` and `not` binds tighter than `and`, which
    /// binds tighter than `or`.
    pub fn parse_boolean(src: &str) -> Result<Policy, ParseError> {
        shorthand::parse(src).map(|expr| Policy { expr })
    }

    /// Evaluates the policy. The result must be a boolean; any error means the policy could not
    /// decide (see [`Policy::allows`] for the secure default).
    pub fn evaluate(&self, env: &Environment) -> Result<bool, EvalError> {
        eval::evaluate(&self.expr, env)
    }

    /// The access decision: `true` only if the policy evaluates to `true`. Every evaluation
    /// error (unbound identifier, type mismatch, non-boolean result) denies.
    pub fn allows(&self, env: &Environment) -> bool {
        matches!(self.evaluate(env), Ok(true))
    }

    /// The syntax tree.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Every identifier the policy mentions (including those only tested by `exists?`), so a
    /// caller can warn about names no credential provides.
    pub fn identifiers(&self) -> BTreeSet<&str> {
        let mut out = BTreeSet::new();
        self.expr.collect_identifiers(&mut out);
        out
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

impl FromStr for Policy {
    type Err = ParseError;

    /// Same as [`Policy::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Policy::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{is_identifier, Op};
    use crate::{MAX_DEPTH, SUBJECT_HAS_CREDENTIAL, SUBJECT_IDENTIFIER};
    use proptest::prelude::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn creds(attrs: &[(&str, &str)]) -> Environment {
        Environment::from_attributes("I42", true, pairs(attrs), pairs(&[("name", "db")]))
    }

    #[test]
    fn seed_example_policies() {
        let inlet = Policy::parse(r#"(= subject.mongodb-inlet "true")"#).unwrap();
        let outlet = Policy::parse(r#"(= subject.mongodb-outlet "true")"#).unwrap();
        let inlet_holder = creds(&[("mongodb-inlet", "true")]);
        let outlet_holder = creds(&[("mongodb-outlet", "true")]);
        let nobody = creds(&[]);
        assert!(inlet.allows(&inlet_holder));
        assert!(!inlet.allows(&outlet_holder));
        assert!(outlet.allows(&outlet_holder));
        assert!(!outlet.allows(&inlet_holder));
        assert!(!inlet.allows(&nobody));
        assert_eq!(
            inlet.evaluate(&nobody),
            Err(EvalError::Unbound("subject.mongodb-inlet".into()))
        );
        assert!(!inlet.allows(&creds(&[("mongodb-inlet", "false")])));
        // The shorthand for the same rule is the same policy.
        assert_eq!(Policy::parse_boolean("mongodb-inlet").unwrap(), inlet);
    }

    #[test]
    fn spoofed_builtins_are_ignored() {
        let p = Policy::parse(r#"(= subject.identifier "Iadmin")"#).unwrap();
        let env = Environment::from_attributes(
            "Ipeer",
            false,
            pairs(&[("identifier", "Iadmin"), ("has_credential", "true")]),
            pairs(&[]),
        );
        assert!(!p.allows(&env));
        let p = Policy::parse("subject.has_credential").unwrap();
        assert!(!p.allows(&env));
        assert_eq!(env.get(SUBJECT_IDENTIFIER), Some(&"Ipeer".into()));
        assert_eq!(env.get(SUBJECT_HAS_CREDENTIAL), Some(&false.into()));
        let genuine = Environment::from_attributes("Iadmin", true, pairs(&[]), pairs(&[]));
        assert!(Policy::parse(r#"(= subject.identifier "Iadmin")"#)
            .unwrap()
            .allows(&genuine));
        assert!(Policy::parse(r#"(= subject.has_credential "true")"#)
            .unwrap()
            .allows(&genuine));
    }

    #[test]
    fn readme_example() {
        let p = Policy::parse(
            r#"(and (= subject.mongodb-inlet "true") (member? subject.team ["a" "b"]))"#,
        )
        .unwrap();
        assert!(p.allows(&creds(&[("mongodb-inlet", "true"), ("team", "b")])));
        assert!(!p.allows(&creds(&[("mongodb-inlet", "true"), ("team", "c")])));
        assert!(!p.allows(&creds(&[("mongodb-inlet", "true")])));
        assert_eq!(
            p.identifiers().into_iter().collect::<Vec<_>>(),
            vec!["subject.mongodb-inlet", "subject.team"]
        );
    }

    #[test]
    fn shorthand_decisions() {
        let p = Policy::parse_boolean("a and not b or (c and d)").unwrap();
        let t = |names: &[&str]| {
            let attrs: Vec<(&str, &str)> = ["a", "b", "c", "d"]
                .iter()
                .map(|n| (*n, if names.contains(n) { "true" } else { "false" }))
                .collect();
            p.allows(&creds(&attrs))
        };
        assert!(t(&["a"]));
        assert!(!t(&["a", "b"]));
        assert!(t(&["a", "b", "c", "d"]));
        assert!(t(&["c", "d"]));
        assert!(!t(&["c"]));
        assert!(!t(&[]));
    }

    #[test]
    fn non_boolean_results_deny() {
        let env = creds(&[("x", "true")]);
        let p = Policy::parse("subject.x").unwrap();
        assert_eq!(p.evaluate(&env), Err(EvalError::NotBoolean("string")));
        assert!(!p.allows(&env));
    }

    #[test]
    fn from_str_and_display() {
        let p: Policy = " ( and\n(= a \"b\")  ) ".parse().unwrap();
        assert_eq!(p.to_string(), r#"(and (= a "b"))"#);
        assert_eq!(
            p.expr(),
            &Expr::Call(
                Op::And,
                vec![Expr::Call(
                    Op::Eq,
                    vec![Expr::Ident("a".into()), Expr::Str("b".into())]
                )]
            )
        );
    }

    fn ident() -> impl Strategy<Value = String> {
        "[a-zA-Z_][a-zA-Z0-9._:-]{0,12}".prop_filter("reserved word", |s| is_identifier(s))
    }

    fn leaf() -> impl Strategy<Value = Expr> {
        prop_oneof![
            any::<String>().prop_map(Expr::Str),
            any::<i64>().prop_map(Expr::Int),
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(Expr::Float),
            any::<bool>().prop_map(Expr::Bool),
            ident().prop_map(Expr::Ident),
        ]
    }

    fn arb_expr() -> impl Strategy<Value = Expr> {
        leaf().prop_recursive(6, 48, 4, |inner| {
            let two = (
                prop::sample::select(vec![Op::Eq, Op::Ne, Op::Lt, Op::Gt, Op::Member]),
                inner.clone(),
                inner.clone(),
            )
                .prop_map(|(op, a, b)| Expr::Call(op, vec![a, b]));
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Expr::List),
                prop::collection::vec(inner.clone(), 0..4).prop_map(|a| Expr::Call(Op::And, a)),
                prop::collection::vec(inner.clone(), 0..4).prop_map(|a| Expr::Call(Op::Or, a)),
                inner.clone().prop_map(|a| Expr::Call(Op::Not, vec![a])),
                (inner.clone(), inner.clone(), inner.clone())
                    .prop_map(|(c, t, e)| Expr::Call(Op::If, vec![c, t, e])),
                two,
                prop::collection::vec(ident().prop_map(Expr::Ident), 1..4)
                    .prop_map(|a| Expr::Call(Op::Exists, a)),
            ]
        })
    }

    /// A small environment where some names are bound and some are not.
    fn fixed_env() -> Environment {
        Environment::from_attributes(
            "I1",
            true,
            pairs(&[("a", "true"), ("b", "false"), ("n", "3")]),
            pairs(&[("name", "db")]),
        )
        .with("x", 1i64)
        .with("l", vec!["true", "a"])
    }

    /// Boolean-ish expressions over names that may be unbound or of the wrong type.
    fn arb_bool_expr() -> impl Strategy<Value = Expr> {
        let atom = prop_oneof![
            any::<bool>().prop_map(Expr::Bool),
            prop::sample::select(vec!["subject.a", "subject.b", "subject.nope", "x", "l"])
                .prop_map(|n| Expr::Ident(n.into())),
            prop::sample::select(vec!["subject.a", "subject.b", "subject.nope", "x"])
                .prop_map(|n| Expr::Call(Op::Eq, vec![Expr::Ident(n.into()), Expr::Bool(true)])),
        ];
        atom.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|a| Expr::Call(Op::And, a)),
                prop::collection::vec(inner.clone(), 0..4).prop_map(|a| Expr::Call(Op::Or, a)),
                inner.prop_map(|a| Expr::Call(Op::Not, vec![a])),
            ]
        })
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(expr in arb_expr()) {
            prop_assume!(expr.depth() <= MAX_DEPTH);
            let text = expr.to_string();
            let parsed = Policy::parse(&text);
            prop_assert!(parsed.is_ok(), "{text:?}: {parsed:?}");
            if let Ok(p) = parsed {
                prop_assert_eq!(p.expr(), &expr);
                prop_assert_eq!(p.to_string(), text);
            }
        }

        #[test]
        fn parse_never_panics(src in any::<String>()) {
            if let Ok(p) = Policy::parse(&src) {
                prop_assert_eq!(Policy::parse(&p.to_string()), Ok(p.clone()));
                let _ = p.allows(&fixed_env());
            }
            if let Ok(p) = Policy::parse_boolean(&src) {
                prop_assert_eq!(Policy::parse(&p.to_string()), Ok(p.clone()));
                let _ = p.allows(&fixed_env());
            }
        }

        #[test]
        fn parse_never_panics_on_near_policies(
            src in r#"[()\[\] "\\a-z.=!<>?:_0-9\n-]{0,120}"#
        ) {
            for parsed in [Policy::parse(&src), Policy::parse_boolean(&src)] {
                match parsed {
                    Ok(p) => {
                        prop_assert_eq!(Policy::parse(&p.to_string()), Ok(p.clone()));
                        prop_assert_eq!(p.allows(&fixed_env()), p.evaluate(&fixed_env()) == Ok(true));
                    }
                    Err(e) => {
                        prop_assert!(e.line >= 1 && e.column >= 1);
                        prop_assert!(!e.message.is_empty());
                    }
                }
            }
        }

        #[test]
        fn and_or_do_not_depend_on_operand_order(expr in arb_bool_expr()) {
            let env = fixed_env();
            if let Expr::Call(op @ (Op::And | Op::Or), mut args) = expr.clone() {
                let before = eval::evaluate(&expr, &env);
                args.reverse();
                let after = eval::evaluate(&Expr::Call(op, args), &env);
                prop_assert_eq!(before.ok(), after.ok());
            }
        }
    }
}
