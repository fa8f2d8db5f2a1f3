//! The evaluation environment: identifier names bound to values, and how the runtime builds one
//! from a peer's credential attributes without letting attributes spoof the built-in names.

use std::collections::BTreeMap;

use crate::value::Value;

/// Name of the built-in holding the peer's identifier (a string), set by the runtime.
pub const SUBJECT_IDENTIFIER: &str = "subject.identifier";

/// Name of the built-in saying whether the peer presented a valid credential (a boolean), set by
/// the runtime.
pub const SUBJECT_HAS_CREDENTIAL: &str = "subject.has_credential";

/// Name of the built-in holding the identifier of the authority that issued the peer's
/// credential (a string, empty without one), set by the runtime (airlock-node).
pub const SUBJECT_ISSUER: &str = "subject.issuer";

/// Name of the built-in holding the project whose authority issued the peer's credential (a
/// string, empty without one or when the node does not know the authority's project), set by
/// the runtime (airlock-node).
pub const SUBJECT_PROJECT: &str = "subject.project";

/// Attribute keys that [`Environment::from_attributes`] drops because, prefixed with
/// `subject.`, they would name a built-in.
pub const RESERVED_ATTRIBUTES: [&str; 4] = ["identifier", "has_credential", "issuer", "project"];

/// Identifier names bound to values, against which a [`crate::Policy`] is evaluated.
///
/// When filling one by hand, insert [`SUBJECT_IDENTIFIER`] and [`SUBJECT_HAS_CREDENTIAL`]
/// *after* the credential attributes, so that a later insert of an attribute cannot overwrite
/// them; [`Environment::from_attributes`] does this for you.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Environment {
    vars: BTreeMap<String, Value>,
}

impl Environment {
    /// An empty environment.
    pub fn new() -> Self {
        Environment::default()
    }

    /// The environment for one request, built in the order that prevents spoofing:
    ///
    /// 1. each credential attribute `(k, v)` becomes `subject.<k>` = `"v"`, except attributes
    ///    named `identifier` or `has_credential`, which are ignored;
    /// 2. then the built-ins are set: [`SUBJECT_IDENTIFIER`] = `identifier` and
    ///    [`SUBJECT_HAS_CREDENTIAL`] = `has_credential`, overwriting anything already there;
    /// 3. each resource pair `(k, v)` becomes `resource.<k>` = `"v"`.
    pub fn from_attributes(
        identifier: &str,
        has_credential: bool,
        attributes: impl IntoIterator<Item = (String, String)>,
        resource: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let mut env = Environment::new();
        for (k, v) in attributes {
            if RESERVED_ATTRIBUTES.contains(&k.as_str()) {
                continue;
            }
            env.insert(format!("subject.{k}"), v);
        }
        env.insert(SUBJECT_IDENTIFIER, identifier);
        env.insert(SUBJECT_HAS_CREDENTIAL, has_credential);
        for (k, v) in resource {
            env.insert(format!("resource.{k}"), v);
        }
        env
    }

    /// Binds `name` to `value`, returning the previous value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.vars.insert(name.into(), value.into())
    }

    /// Builder form of [`Environment::insert`].
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.insert(name, value);
        self
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.vars.remove(name)
    }

    /// The value bound to `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }

    /// Whether `name` is bound.
    pub fn contains(&self, name: &str) -> bool {
        self.vars.contains_key(name)
    }

    /// Number of bindings.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// The bindings, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut env = Environment::new();
        env.extend(iter);
        env
    }
}

impl<K: Into<String>, V: Into<Value>> Extend<(K, V)> for Environment {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn attributes_cannot_spoof_builtins() {
        let env = Environment::from_attributes(
            "I0123",
            false,
            pairs(&[
                ("identifier", "Iattacker"),
                ("has_credential", "true"),
                ("issuer", "Iattacker"),
                ("project", "other"),
                ("team", "a"),
            ]),
            pairs(&[("name", "db")]),
        );
        assert_eq!(env.get(SUBJECT_IDENTIFIER), Some(&Value::from("I0123")));
        assert_eq!(env.get(SUBJECT_HAS_CREDENTIAL), Some(&Value::Bool(false)));
        assert_eq!(env.get("subject.team"), Some(&Value::from("a")));
        assert_eq!(env.get("resource.name"), Some(&Value::from("db")));
        assert_eq!(env.len(), 4);
    }

    #[test]
    fn resource_pairs_stay_under_resource() {
        let env =
            Environment::from_attributes("I1", true, pairs(&[]), pairs(&[("identifier", "x")]));
        assert_eq!(env.get(SUBJECT_IDENTIFIER), Some(&Value::from("I1")));
        assert_eq!(env.get("resource.identifier"), Some(&Value::from("x")));
    }

    #[test]
    fn map_operations() {
        let mut env: Environment = [("a", 1i64), ("b", 2i64)].into_iter().collect();
        assert!(env.contains("a"));
        assert_eq!(env.insert("a", "x"), Some(Value::Int(1)));
        assert_eq!(env.remove("b"), Some(Value::Int(2)));
        assert_eq!(
            env.iter().collect::<Vec<_>>(),
            vec![("a", &Value::from("x"))]
        );
        assert!(!Environment::new().with("k", true).is_empty());
    }
}
