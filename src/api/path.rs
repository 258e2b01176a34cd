//! Locations inside a JSON document: a list of object keys and array indices, rendered as an RFC 6901 JSON Pointer.
//!
//! A path into a tool-call `input` object contains that object's keys, which are request content: this module must
//! never be used to log the rendered pointer of such a segment (log the segment index and source instead).

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

/// One step of a [`JsonPath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathStep {
    /// An object member. Known field names are borrowed `'static` strings, so building paths does not allocate
    /// per step; only keys taken from the body (tool inputs) are owned.
    Key(Cow<'static, str>),
    /// An array element.
    Index(usize),
}

/// A location inside a JSON document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct JsonPath(Vec<PathStep>);

impl JsonPath {
    /// The empty path (the document root).
    pub fn root() -> Self {
        JsonPath(Vec::new())
    }

    /// The steps of this path.
    pub fn steps(&self) -> &[PathStep] {
        &self.0
    }

    /// A new path with an object key appended (`&'static str` for field names, `String` for body keys).
    pub fn key(&self, k: impl Into<Cow<'static, str>>) -> Self {
        let mut v = Vec::with_capacity(self.0.len() + 1);
        v.extend_from_slice(&self.0);
        v.push(PathStep::Key(k.into()));
        JsonPath(v)
    }

    /// A new path with an array index appended.
    pub fn index(&self, i: usize) -> Self {
        let mut v = Vec::with_capacity(self.0.len() + 1);
        v.extend_from_slice(&self.0);
        v.push(PathStep::Index(i));
        JsonPath(v)
    }

    /// Resolve this path in `root`.
    pub fn get<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        self.0.iter().try_fold(root, |v, step| match step {
            PathStep::Key(k) => v.as_object()?.get(k.as_ref()),
            PathStep::Index(i) => v.as_array()?.get(*i),
        })
    }

    /// Resolve this path in `root`, mutably.
    pub fn get_mut<'a>(&self, root: &'a mut Value) -> Option<&'a mut Value> {
        self.0.iter().try_fold(root, |v, step| match step {
            PathStep::Key(k) => v.as_object_mut()?.get_mut(k.as_ref()),
            PathStep::Index(i) => v.as_array_mut()?.get_mut(*i),
        })
    }

    /// The RFC 6901 JSON Pointer of this path (`""` for the root, `~` and `/` escaped).
    pub fn to_pointer(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.0 {
            f.write_str("/")?;
            match step {
                PathStep::Index(i) => write!(f, "{i}")?,
                PathStep::Key(k) => {
                    for c in k.chars() {
                        match c {
                            '~' => f.write_str("~0")?,
                            '/' => f.write_str("~1")?,
                            c => write!(f, "{c}")?,
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointer_escapes_and_resolves_like_serde_json() {
        let v = json!({"a/b": {"m~n": [1, {"x": "y"}]}});
        let p = JsonPath::root()
            .key("a/b")
            .key(String::from("m~n"))
            .index(1)
            .key("x");
        assert_eq!(p.to_pointer(), "/a~1b/m~0n/1/x");
        assert_eq!(p.get(&v), v.pointer(&p.to_pointer()));
        assert_eq!(p.get(&v), Some(&json!("y")));
        assert_eq!(JsonPath::root().to_pointer(), "");
        assert!(JsonPath::root().key("nope").get(&v).is_none());
        assert!(JsonPath::root().index(0).get(&v).is_none());
    }
}
