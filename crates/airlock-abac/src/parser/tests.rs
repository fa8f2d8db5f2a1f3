//! Parser tests: every construct, every error with its column.

use super::*;

fn err(src: &str) -> (usize, usize, String) {
    match parse(src) {
        Ok(e) => panic!("{src:?} parsed as {e}"),
        Err(e) => (e.line, e.column, e.message),
    }
}

fn ok(src: &str) -> Expr {
    match parse(src) {
        Ok(e) => e,
        Err(e) => panic!("{src:?}: {e}"),
    }
}

fn s(x: &str) -> Expr {
    Expr::Str(x.into())
}

fn id(x: &str) -> Expr {
    Expr::Ident(x.into())
}

#[test]
fn literals() {
    assert_eq!(ok("\"a b\""), s("a b"));
    assert_eq!(ok(r#""q\"\\\n\t""#), s("q\"\\\n\t"));
    assert_eq!(ok("42"), Expr::Int(42));
    assert_eq!(ok("-3"), Expr::Int(-3));
    assert_eq!(ok("007"), Expr::Int(7));
    assert_eq!(ok("1.5"), Expr::Float(1.5));
    assert_eq!(ok("-0.25"), Expr::Float(-0.25));
    assert_eq!(ok("-9223372036854775808"), Expr::Int(i64::MIN));
    assert_eq!(ok("true"), Expr::Bool(true));
    assert_eq!(ok("false"), Expr::Bool(false));
    assert_eq!(ok("  subject.mongodb-inlet\n"), id("subject.mongodb-inlet"));
    assert_eq!(ok("_a:b.c-d_9"), id("_a:b.c-d_9"));
}

#[test]
fn lists() {
    assert_eq!(ok("[]"), Expr::List(vec![]));
    assert_eq!(
        ok(r#"["a" 1 [true] x (not false)]"#),
        Expr::List(vec![
            s("a"),
            Expr::Int(1),
            Expr::List(vec![Expr::Bool(true)]),
            id("x"),
            Expr::Call(Op::Not, vec![Expr::Bool(false)]),
        ])
    );
}

#[test]
fn every_operator() {
    let cases = [
        ("(and)", Op::And, 0),
        ("(and a b c)", Op::And, 3),
        ("(or)", Op::Or, 0),
        ("(or a)", Op::Or, 1),
        ("(not a)", Op::Not, 1),
        ("(if a b c)", Op::If, 3),
        ("(= a b)", Op::Eq, 2),
        ("(!= a b)", Op::Ne, 2),
        ("(< a b)", Op::Lt, 2),
        ("(> a b)", Op::Gt, 2),
        ("(member? a [b])", Op::Member, 2),
        ("(exists? a)", Op::Exists, 1),
        ("(exists? a b)", Op::Exists, 2),
    ];
    for (src, op, n) in cases {
        match ok(src) {
            Expr::Call(got, args) => {
                assert_eq!((got, args.len()), (op, n), "{src}");
            }
            other => panic!("{src}: {other:?}"),
        }
    }
}

#[test]
fn example_policy() {
    let e = ok(r#"(and (= subject.mongodb-inlet "true") (member? subject.team ["a" "b"]))"#);
    assert_eq!(
        e,
        Expr::Call(
            Op::And,
            vec![
                Expr::Call(Op::Eq, vec![id("subject.mongodb-inlet"), s("true")]),
                Expr::Call(
                    Op::Member,
                    vec![id("subject.team"), Expr::List(vec![s("a"), s("b")])]
                ),
            ]
        )
    );
}

#[test]
fn unclosed_paren_points_at_end() {
    assert_eq!(
        err(r#"(= subject.x "a""#),
        (1, 17, "expected ')' to close '(' opened at 1:1".into())
    );
    assert_eq!(
        parse(r#"(= subject.x "a""#).map_err(|e| e.to_string()),
        Err("1:17: expected ')' to close '(' opened at 1:1".into())
    );
    assert_eq!(
        err("(and\n  (= a b)\n  (not c)"),
        (3, 10, "expected ')' to close '(' opened at 1:1".into())
    );
    assert_eq!(
        err("(and (= a b]"),
        (
            1,
            12,
            "expected ')' to close '(' opened at 1:6, found ']'".into()
        )
    );
    assert_eq!(
        err("[1 2"),
        (1, 5, "expected ']' to close '[' opened at 1:1".into())
    );
    assert_eq!(
        err("(= a [1 2)"),
        (
            1,
            10,
            "expected ']' to close '[' opened at 1:6, found ')'".into()
        )
    );
}

#[test]
fn unknown_operator_lists_known_ones() {
    let (l, c, m) = err("(and (xor a b))");
    assert_eq!((l, c), (1, 7));
    assert_eq!(
        m,
        "unknown operator 'xor'; known operators: and, or, not, if, =, !=, <, >, member?, exists?"
    );
    let (_, _, m) = err("(== a b)");
    assert!(m.ends_with("; did you mean '='?"), "{m}");
    let (_, _, m) = err("(AND a b)");
    assert!(m.ends_with("; did you mean 'and'?"), "{m}");
    let (_, _, m) = err("(<= a b)");
    assert!(m.ends_with("write (not (> a b))"), "{m}");
    let (l, c, m) = err("(\"and\" a)");
    assert_eq!((l, c), (1, 2));
    assert!(
        m.starts_with("expected an operator after '(', found a string; known operators: and"),
        "{m}"
    );
    let (l, c, m) = err("(");
    assert_eq!((l, c), (1, 2));
    assert!(
        m.starts_with("expected an operator after '(', found end of input"),
        "{m}"
    );
}

#[test]
fn wrong_argument_counts() {
    assert_eq!(
        err("(not a b)"),
        (1, 2, "'not' takes 1 argument, got 2".into())
    );
    assert_eq!(err(" (= a)"), (1, 3, "'=' takes 2 arguments, got 1".into()));
    assert_eq!(
        err("(if a b)"),
        (1, 2, "'if' takes 3 arguments, got 2".into())
    );
    assert_eq!(
        err("(exists?)"),
        (1, 2, "'exists?' takes at least 1 argument, got 0".into())
    );
    assert_eq!(
        err("(member? a [b] c)"),
        (1, 2, "'member?' takes 2 arguments, got 3".into())
    );
}

#[test]
fn exists_takes_identifiers() {
    assert_eq!(
        err("(exists? a \"b\")"),
        (
            1,
            12,
            "'exists?' takes only identifiers (like subject.team), got a string".into()
        )
    );
}

#[test]
fn empty_and_trailing() {
    let empty = "empty expression: expected a policy such as (= subject.name \"value\")";
    assert_eq!(err(""), (1, 1, empty.into()));
    assert_eq!(err("  \n "), (2, 2, empty.into()));
    let (l, c, m) = err("()");
    assert_eq!((l, c), (1, 1));
    assert!(m.starts_with("empty expression '()'"), "{m}");
    let (l, c, m) = err("(= a b) (= c d)");
    assert_eq!((l, c), (1, 9));
    assert!(m.starts_with("trailing input after the end of the policy: found '('"));
    assert_eq!(
        err("(= a b))"),
        (
            1,
            8,
            "unexpected ')' with no matching '(' (trailing input after the policy)".into()
        )
    );
    assert_eq!(
        err(")"),
        (1, 1, "unexpected ')' with no matching '('".into())
    );
    assert_eq!(
        err("]"),
        (1, 1, "unexpected ']' with no matching '['".into())
    );
}

#[test]
fn unterminated_string() {
    let (l, c, m) = err("(= subject.x \"abc)");
    assert_eq!((l, c), (1, 14));
    assert!(m.starts_with("unterminated string"), "{m}");
}

#[test]
fn bad_atoms() {
    assert_eq!(
        err("(= subject.x! \"a\")"),
        (
            1,
            13,
            "invalid character '!' in identifier 'subject.x!' (identifiers use letters, \
             digits, '.', '-', '_' and ':')"
                .into()
        )
    );
    assert_eq!(
        err("(= -x 1)"),
        (
            1,
            4,
            "invalid identifier '-x': identifiers start with a letter or '_'".into()
        )
    );
    assert_eq!(
        err("(= 'a' 1)").2,
        "invalid identifier ''a'': strings use double quotes"
    );
    assert_eq!(
        err("(and and)"),
        (
            1,
            6,
            "'and' is an operator; operators go right after '(', as in (and ...)".into()
        )
    );
    assert_eq!(
        err("(= 1.2.3 1)").2,
        "invalid number '1.2.3' (numbers look like 42, -3 or 1.5)"
    );
    for bad in ["1.", "1e5", "1x", "-1.", "--1"] {
        let src = format!("(= a {bad})");
        assert_eq!(err(&src).1, 6, "{bad}");
    }
    assert!(err("99999999999999999999").2.contains("out of range"));
    let huge = format!("1{}.0", "0".repeat(400));
    assert!(err(&huge).2.contains("out of range"));
}

#[test]
fn depth_limit() {
    let nested = |n: usize| format!("{}true{}", "(not ".repeat(n), ")".repeat(n));
    assert_eq!(ok(&nested(MAX_DEPTH)).depth(), MAX_DEPTH);
    let (l, c, m) = err(&nested(MAX_DEPTH + 1));
    assert_eq!((l, c), (1, 1 + 5 * MAX_DEPTH));
    assert_eq!(
        m,
        "nesting too deep: more than 64 levels of parentheses and brackets"
    );
    let lists = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(parse(&lists(MAX_DEPTH)).is_ok());
    assert_eq!(err(&lists(MAX_DEPTH + 1)).1, MAX_DEPTH + 1);
    // Far past the limit: still an error, not a stack overflow.
    assert_eq!(err(&"[".repeat(60_000)).1, MAX_DEPTH + 1);
}

#[test]
fn length_limit() {
    let long = format!("\"{}\"", "a".repeat(MAX_INPUT_LEN));
    let (l, c, m) = err(&long);
    assert_eq!((l, c), (1, 1));
    assert_eq!(
        m,
        format!(
            "policy is too long: {} bytes (the limit is 65536)",
            MAX_INPUT_LEN + 2
        )
    );
    let fits = format!("\"{}\"", "a".repeat(MAX_INPUT_LEN - 2));
    assert!(parse(&fits).is_ok());
}

#[test]
fn columns_count_characters() {
    // 'é' is two bytes but one column.
    assert_eq!(err("(= \"é\" x!)").1, 9);
}
