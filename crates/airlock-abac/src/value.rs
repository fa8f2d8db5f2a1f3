//! Runtime values — what identifiers are bound to and what expressions evaluate to — and the
//! equality and ordering rules the comparison operators use.

use std::cmp::Ordering;
use std::fmt;

use crate::ast::{format_float, write_string};

/// A value in an [`crate::Environment`] or produced by evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string. Attributes from credentials are always strings.
    Str(String),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A list of values.
    List(Vec<Value>),
}

impl Value {
    /// The type's name as error messages spell it: `string`, `integer`, `float`, `boolean`,
    /// `list`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Bool(_) => "boolean",
            Value::List(_) => "list",
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The canonical text of a scalar that strings are compared against by `=`: `true`, `42`,
    /// `1.5`, `2.0`. `None` for strings and lists.
    fn canonical_text(&self) -> Option<String> {
        match self {
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(x) => Some(format_float(*x)),
            Value::Str(_) | Value::List(_) => None,
        }
    }

    /// Type name for comparison errors, calling out NaN (which has no order).
    fn cmp_type_name(&self) -> &'static str {
        match self {
            Value::Float(x) if x.is_nan() => "NaN",
            other => other.type_name(),
        }
    }
}

impl fmt::Display for Value {
    /// Prints the value in policy literal syntax (strings quoted and escaped).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write_string(f, s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&format_float(*x)),
            Value::Bool(b) => write!(f, "{b}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Self {
        Value::List(items.into_iter().map(Into::into).collect())
    }
}

/// Two values that `=`/`<`/`>` cannot compare, as their type names (left, right).
pub(crate) type Mismatch = (&'static str, &'static str);

/// Equality as `=` defines it.
///
/// * same types compare by value; integers and floats compare numerically (exactly);
/// * a string equals a boolean or number whose canonical text it is (`"true"` = `true`);
/// * lists are equal if they have the same length and equal elements (an unequal pair decides
///   even if another pair is incomparable);
/// * anything else (boolean vs number, list vs scalar) is a mismatch.
pub(crate) fn loose_eq(a: &Value, b: &Value) -> Result<bool, Mismatch> {
    use Value::*;
    match (a, b) {
        (Str(x), Str(y)) => Ok(x == y),
        (Bool(x), Bool(y)) => Ok(x == y),
        (Str(s), other) | (other, Str(s)) => match other.canonical_text() {
            Some(text) => Ok(*s == text),
            None => Err((a.type_name(), b.type_name())),
        },
        (List(xs), List(ys)) => {
            if xs.len() != ys.len() {
                return Ok(false);
            }
            let mut mismatch = None;
            for (x, y) in xs.iter().zip(ys) {
                match loose_eq(x, y) {
                    Ok(true) => {}
                    Ok(false) => return Ok(false),
                    Err(e) => {
                        mismatch.get_or_insert(e);
                    }
                }
            }
            mismatch.map_or(Ok(true), Err)
        }
        _ => match numeric_cmp(a, b) {
            Some(Some(ord)) => Ok(ord == Ordering::Equal),
            Some(None) => Ok(false), // NaN equals nothing
            None => Err((a.type_name(), b.type_name())),
        },
    }
}

/// Ordering as `<` and `>` define it: numbers numerically, strings lexicographically (by
/// Unicode code point); anything else, including NaN, is a mismatch.
pub(crate) fn order(a: &Value, b: &Value) -> Result<Ordering, Mismatch> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        _ => match numeric_cmp(a, b) {
            Some(Some(ord)) => Ok(ord),
            _ => Err((a.cmp_type_name(), b.cmp_type_name())),
        },
    }
}

/// `None` if either value is not a number; `Some(None)` if they are numbers without an order
/// (NaN); otherwise their exact numeric order.
fn numeric_cmp(a: &Value, b: &Value) -> Option<Option<Ordering>> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(Some(x.cmp(y))),
        (Value::Float(x), Value::Float(y)) => Some(x.partial_cmp(y)),
        (Value::Int(i), Value::Float(x)) => Some(int_float_cmp(*i, *x)),
        (Value::Float(x), Value::Int(i)) => Some(int_float_cmp(*i, *x).map(Ordering::reverse)),
        _ => None,
    }
}

/// Exact comparison of an integer with a float (no rounding of large integers).
fn int_float_cmp(i: i64, x: f64) -> Option<Ordering> {
    if x.is_nan() {
        return None;
    }
    // 2^63 is exactly representable; every i64 is below it and at or above -2^63.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if x >= TWO_63 {
        return Some(Ordering::Less);
    }
    if x < -TWO_63 {
        return Some(Ordering::Greater);
    }
    // Now x is within i64 range: compare integer parts exactly, then the fraction.
    let whole = x.trunc();
    let whole_i = whole as i64; // exact: |whole| < 2^63 and integral
    match i.cmp(&whole_i) {
        Ordering::Equal => {
            let frac = x - whole;
            Some(if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            })
        }
        ord => Some(ord),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_equal_canonical_text() {
        let s = |x: &str| Value::from(x);
        assert_eq!(loose_eq(&s("true"), &Value::Bool(true)), Ok(true));
        assert_eq!(loose_eq(&Value::Bool(false), &s("false")), Ok(true));
        assert_eq!(loose_eq(&s("True"), &Value::Bool(true)), Ok(false));
        assert_eq!(loose_eq(&s("42"), &Value::Int(42)), Ok(true));
        assert_eq!(loose_eq(&s("042"), &Value::Int(42)), Ok(false));
        assert_eq!(loose_eq(&s("1.5"), &Value::Float(1.5)), Ok(true));
        assert_eq!(loose_eq(&s("2.0"), &Value::Float(2.0)), Ok(true));
        assert_eq!(loose_eq(&s("2"), &Value::Float(2.0)), Ok(false));
        assert_eq!(
            loose_eq(&s("a"), &Value::from(vec!["a"])),
            Err(("string", "list"))
        );
    }

    #[test]
    fn numbers_compare_exactly() {
        assert_eq!(loose_eq(&Value::Int(2), &Value::Float(2.0)), Ok(true));
        assert_eq!(loose_eq(&Value::Int(2), &Value::Float(2.5)), Ok(false));
        // 2^53 + 1 is not a float; it must not equal the float 2^53.
        let big = (1i64 << 53) + 1;
        assert_eq!(
            loose_eq(&Value::Int(big), &Value::Float((1i64 << 53) as f64)),
            Ok(false)
        );
        assert_eq!(
            order(
                &Value::Int(i64::MAX),
                &Value::Float(9_223_372_036_854_775_808.0)
            ),
            Ok(Ordering::Less)
        );
        assert_eq!(
            order(
                &Value::Int(i64::MIN),
                &Value::Float(-9_223_372_036_854_775_808.0)
            ),
            Ok(Ordering::Equal)
        );
        assert_eq!(
            order(&Value::Float(-1.5), &Value::Int(-1)),
            Ok(Ordering::Less)
        );
        assert_eq!(
            order(&Value::Int(-1), &Value::Float(-1.5)),
            Ok(Ordering::Greater)
        );
        assert_eq!(loose_eq(&Value::Float(f64::NAN), &Value::Int(1)), Ok(false));
        assert_eq!(
            order(&Value::Float(f64::NAN), &Value::Int(1)),
            Err(("NaN", "integer"))
        );
    }

    #[test]
    fn mismatches() {
        assert_eq!(
            loose_eq(&Value::Bool(true), &Value::Int(1)),
            Err(("boolean", "integer"))
        );
        assert_eq!(
            order(&Value::from("a"), &Value::Int(1)),
            Err(("string", "integer"))
        );
        assert_eq!(
            order(&Value::Bool(true), &Value::Bool(false)),
            Err(("boolean", "boolean"))
        );
        assert_eq!(
            order(&Value::from("a"), &Value::from("b")),
            Ok(Ordering::Less)
        );
    }

    #[test]
    fn lists() {
        let l = |v: Vec<Value>| Value::List(v);
        assert_eq!(
            loose_eq(
                &l(vec!["a".into(), 1i64.into()]),
                &l(vec!["a".into(), "1".into()])
            ),
            Ok(true)
        );
        assert_eq!(loose_eq(&l(vec![]), &l(vec!["a".into()])), Ok(false));
        // An unequal pair decides even next to an incomparable one, in either order.
        let a = l(vec![true.into(), "x".into()]);
        let b = l(vec![1i64.into(), "y".into()]);
        assert_eq!(loose_eq(&a, &b), Ok(false));
        let a = l(vec![true.into(), "x".into()]);
        let b = l(vec![1i64.into(), "x".into()]);
        assert_eq!(loose_eq(&a, &b), Err(("boolean", "integer")));
    }

    #[test]
    fn display_uses_literal_syntax() {
        let v = Value::from(vec![
            Value::from("a\"b"),
            Value::Int(1),
            Value::Float(2.0),
            Value::Bool(true),
        ]);
        assert_eq!(v.to_string(), r#"["a\"b" 1 2.0 true]"#);
        assert_eq!(v.type_name(), "list");
        assert_eq!(Value::from("x").as_str(), Some("x"));
        assert_eq!(Value::Bool(true).as_bool(), Some(true));
        assert_eq!(Value::Int(1).as_bool(), None);
    }
}
