//! Evaluating an expression against an [`Environment`].
//!
//! `and`, `or` and `member?` decide as soon as one operand decides the result (a `false` for
//! `and`, a `true` for `or`, an equal element for `member?`), even if other operands fail to
//! evaluate; if none decides, the first error (if any) is returned. The outcome therefore does
//! not depend on operand order, and `(and (exists? subject.x) (= subject.x "y"))` is simply
//! false when `subject.x` is missing. Every other error propagates.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::ast::{Expr, Op};
use crate::env::Environment;
use crate::error::EvalError;
use crate::value::{loose_eq, order, Value};

/// Evaluates `expr` to a boolean decision.
pub(crate) fn evaluate(expr: &Expr, env: &Environment) -> Result<bool, EvalError> {
    match eval(expr, env)?.as_ref() {
        Value::Bool(b) => Ok(*b),
        other => Err(EvalError::NotBoolean(other.type_name())),
    }
}

fn eval<'a>(expr: &'a Expr, env: &'a Environment) -> Result<Cow<'a, Value>, EvalError> {
    Ok(match expr {
        Expr::Str(s) => Cow::Owned(Value::Str(s.clone())),
        Expr::Int(i) => Cow::Owned(Value::Int(*i)),
        Expr::Float(x) => Cow::Owned(Value::Float(*x)),
        Expr::Bool(b) => Cow::Owned(Value::Bool(*b)),
        Expr::Ident(name) => match env.get(name) {
            Some(v) => Cow::Borrowed(v),
            None => return Err(EvalError::Unbound(name.clone())),
        },
        Expr::List(items) => Cow::Owned(Value::List(
            items
                .iter()
                .map(|e| eval(e, env).map(Cow::into_owned))
                .collect::<Result<_, _>>()?,
        )),
        Expr::Call(op, args) => Cow::Owned(call(*op, args, env)?),
    })
}

fn call(op: Op, args: &[Expr], env: &Environment) -> Result<Value, EvalError> {
    let arity_error = || EvalError::Arity {
        op: op.name(),
        expected: op.arity().to_string(),
        got: args.len(),
    };
    Ok(Value::Bool(match (op, args) {
        (Op::And, _) => decide(args, |e| eval_bool(e, env, op), false)?,
        (Op::Or, _) => decide(args, |e| eval_bool(e, env, op), true)?,
        (Op::Not, [a]) => !eval_bool(a, env, op)?,
        (Op::If, [cond, then, otherwise]) => {
            let branch = if eval_bool(cond, env, op)? {
                then
            } else {
                otherwise
            };
            return eval(branch, env).map(Cow::into_owned);
        }
        (Op::Eq | Op::Ne, [a, b]) => {
            let (a, b) = (eval(a, env)?, eval(b, env)?);
            let equal = loose_eq(&a, &b).map_err(|m| incomparable(op, m))?;
            equal == (op == Op::Eq)
        }
        (Op::Lt | Op::Gt, [a, b]) => {
            let (a, b) = (eval(a, env)?, eval(b, env)?);
            let ord = order(&a, &b).map_err(|m| incomparable(op, m))?;
            ord == if op == Op::Lt {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (Op::Member, [element, list]) => {
            let element = eval(element, env)?;
            let list = eval(list, env)?;
            let Value::List(items) = list.as_ref() else {
                return Err(EvalError::Type {
                    op: op.name(),
                    expected: "a list as its second argument",
                    found: list.type_name(),
                });
            };
            decide(
                items,
                |item| loose_eq(&element, item).map_err(|m| incomparable(op, m)),
                true,
            )?
        }
        (Op::Exists, _) if !args.is_empty() => {
            let mut all = true;
            for arg in args {
                match arg {
                    Expr::Ident(name) => all &= env.contains(name),
                    _ => {
                        return Err(EvalError::Type {
                            op: op.name(),
                            expected: "identifiers",
                            found: "an expression",
                        })
                    }
                }
            }
            all
        }
        _ => return Err(arity_error()),
    }))
}

/// Evaluates `expr`, which must produce a boolean for `op`.
fn eval_bool(expr: &Expr, env: &Environment, op: Op) -> Result<bool, EvalError> {
    match eval(expr, env)?.as_ref() {
        Value::Bool(b) => Ok(*b),
        other => Err(EvalError::Type {
            op: op.name(),
            expected: "boolean operands",
            found: other.type_name(),
        }),
    }
}

/// Short-circuit fold: returns `decisive` as soon as `test` yields it, otherwise the first error,
/// otherwise `!decisive`.
fn decide<T>(
    items: &[T],
    mut test: impl FnMut(&T) -> Result<bool, EvalError>,
    decisive: bool,
) -> Result<bool, EvalError> {
    let mut first_error = None;
    for item in items {
        match test(item) {
            Ok(b) if b == decisive => return Ok(decisive),
            Ok(_) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(!decisive), Err)
}

fn incomparable(op: Op, (left, right): (&'static str, &'static str)) -> EvalError {
    EvalError::Incomparable {
        op: op.name(),
        left,
        right,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn env() -> Environment {
        Environment::new()
            .with("subject.t", "true")
            .with("subject.f", "false")
            .with("subject.team", "a")
            .with("subject.n", "5")
            .with("b.t", true)
            .with("b.f", false)
            .with("num", 5i64)
            .with("flt", 2.5)
            .with("list", vec!["a", "b"])
    }

    fn run(src: &str) -> Result<bool, EvalError> {
        match parse(src) {
            Ok(e) => evaluate(&e, &env()),
            Err(e) => panic!("{src:?}: {e}"),
        }
    }

    #[test]
    fn and_or_not_truth_tables() {
        for a in [false, true] {
            for b in [false, true] {
                assert_eq!(run(&format!("(and {a} {b})")), Ok(a && b));
                assert_eq!(run(&format!("(or {a} {b})")), Ok(a || b));
            }
            assert_eq!(run(&format!("(not {a})")), Ok(!a));
        }
        assert_eq!(run("(and)"), Ok(true));
        assert_eq!(run("(or)"), Ok(false));
        assert_eq!(run("(and true true false)"), Ok(false));
        assert_eq!(run("(or false false true)"), Ok(true));
    }

    #[test]
    fn if_picks_a_branch() {
        assert_eq!(run("(if true true false)"), Ok(true));
        assert_eq!(run("(if false true false)"), Ok(false));
        // Only the chosen branch is evaluated.
        assert_eq!(run("(if true b.t nope)"), Ok(true));
        assert_eq!(
            run("(if (exists? subject.x) (= subject.x \"y\") false)"),
            Ok(false)
        );
        assert!(matches!(
            run("(if 1 true false)"),
            Err(EvalError::Type { .. })
        ));
    }

    #[test]
    fn equality() {
        assert_eq!(run("(= subject.team \"a\")"), Ok(true));
        assert_eq!(run("(!= subject.team \"a\")"), Ok(false));
        assert_eq!(run("(= subject.t true)"), Ok(true));
        assert_eq!(run("(= subject.f true)"), Ok(false));
        assert_eq!(run("(= subject.n 5)"), Ok(true));
        assert_eq!(run("(= num 5.0)"), Ok(true));
        assert_eq!(run("(= b.t true)"), Ok(true));
        assert_eq!(run("(= b.t \"true\")"), Ok(true));
        assert_eq!(run("(= list [\"a\" \"b\"])"), Ok(true));
        assert_eq!(run("(!= list [\"a\"])"), Ok(true));
        assert_eq!(
            run("(= b.t 1)"),
            Err(EvalError::Incomparable {
                op: "=",
                left: "boolean",
                right: "integer"
            })
        );
        assert!(matches!(
            run("(!= list \"a\")"),
            Err(EvalError::Incomparable { .. })
        ));
    }

    #[test]
    fn ordering() {
        assert_eq!(run("(< 1 2)"), Ok(true));
        assert_eq!(run("(> 1 2)"), Ok(false));
        assert_eq!(run("(< num 5.5)"), Ok(true));
        assert_eq!(run("(> flt 2)"), Ok(true));
        assert_eq!(run("(< 2 2)"), Ok(false));
        assert_eq!(run("(< \"apple\" \"banana\")"), Ok(true));
        assert_eq!(run("(> \"b\" \"abc\")"), Ok(true));
        assert_eq!(
            run("(< subject.n 10)"),
            Err(EvalError::Incomparable {
                op: "<",
                left: "string",
                right: "integer"
            })
        );
        assert!(run("(> true false)").is_err());
    }

    #[test]
    fn membership() {
        assert_eq!(run("(member? subject.team [\"a\" \"b\"])"), Ok(true));
        assert_eq!(run("(member? subject.team [\"b\" \"c\"])"), Ok(false));
        assert_eq!(run("(member? subject.team [])"), Ok(false));
        assert_eq!(run("(member? \"b\" list)"), Ok(true));
        assert_eq!(run("(member? subject.n [1 5])"), Ok(true));
        // A match decides even next to an incomparable element, in either order.
        assert_eq!(run("(member? b.t [1 true])"), Ok(true));
        assert_eq!(run("(member? b.t [true 1])"), Ok(true));
        assert!(matches!(
            run("(member? b.t [1 false])"),
            Err(EvalError::Incomparable { .. })
        ));
        assert_eq!(
            run("(member? \"a\" subject.team)"),
            Err(EvalError::Type {
                op: "member?",
                expected: "a list as its second argument",
                found: "string"
            })
        );
    }

    #[test]
    fn exists() {
        assert_eq!(run("(exists? subject.team)"), Ok(true));
        assert_eq!(run("(exists? subject.team subject.n)"), Ok(true));
        assert_eq!(run("(exists? subject.team subject.nope)"), Ok(false));
        assert_eq!(run("(not (exists? subject.nope))"), Ok(true));
    }

    #[test]
    fn unbound_identifiers_are_errors() {
        assert_eq!(
            run("(= subject.nope \"x\")"),
            Err(EvalError::Unbound("subject.nope".into()))
        );
        assert_eq!(
            run("(not (= subject.nope \"x\"))"),
            Err(EvalError::Unbound("subject.nope".into()))
        );
        assert_eq!(
            run("[subject.nope]").map_err(|e| e.to_string()),
            Err("unbound identifier 'subject.nope'".into())
        );
    }

    #[test]
    fn deciding_operands_win_in_any_order() {
        assert_eq!(run("(and x false)"), Ok(false));
        assert_eq!(run("(and false x)"), Ok(false));
        assert_eq!(run("(or x true)"), Ok(true));
        assert_eq!(run("(or true x)"), Ok(true));
        assert_eq!(run("(and x true)"), Err(EvalError::Unbound("x".into())));
        assert_eq!(run("(or false x)"), Err(EvalError::Unbound("x".into())));
        assert_eq!(run("(and x y)"), Err(EvalError::Unbound("x".into())));
        assert_eq!(
            run("(and (exists? subject.x) (= subject.x \"y\"))"),
            Ok(false)
        );
        assert_eq!(
            run("(or \"yes\" false)"),
            Err(EvalError::Type {
                op: "or",
                expected: "boolean operands",
                found: "string"
            })
        );
    }

    #[test]
    fn result_must_be_boolean() {
        assert_eq!(run("\"true\""), Err(EvalError::NotBoolean("string")));
        assert_eq!(run("subject.t"), Err(EvalError::NotBoolean("string")));
        assert_eq!(run("[]"), Err(EvalError::NotBoolean("list")));
        assert_eq!(run("(if true 1 2)"), Err(EvalError::NotBoolean("integer")));
        assert_eq!(run("b.t"), Ok(true));
        assert_eq!(
            EvalError::NotBoolean("string").to_string(),
            "a policy must evaluate to a boolean, got string"
        );
    }

    #[test]
    fn hand_built_trees_fail_cleanly() {
        let e = Expr::Call(Op::Not, vec![]);
        assert_eq!(
            evaluate(&e, &env()).map_err(|e| e.to_string()),
            Err("'not' takes 1 argument, got 0".into())
        );
        let e = Expr::Call(Op::Exists, vec![Expr::Int(1)]);
        assert!(evaluate(&e, &env()).is_err());
        let e = Expr::Call(Op::Exists, vec![]);
        assert!(evaluate(&e, &env()).is_err());
    }
}
