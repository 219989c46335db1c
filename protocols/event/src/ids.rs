//! Site and instrument identifiers (shared conventions §1).
//!
//! Both are NATS subject tokens and MQTT topic levels, so they are restricted to lowercase
//! `[a-z0-9-]`, 1–64 characters: no dots, spaces, wildcards or separators.

use serde::{Deserialize, Serialize};

/// The longest id accepted.
pub const MAX_ID_LEN: usize = 64;

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is empty.
    #[error("id is empty")]
    Empty,
    /// The id is longer than [`MAX_ID_LEN`].
    #[error("id {id:?} is {len} characters long; at most {MAX_ID_LEN} are allowed")]
    TooLong {
        /// The offending id.
        id: String,
        /// Its length.
        len: usize,
    },
    /// The id has a character outside `[a-z0-9-]`.
    #[error(
        "id {id:?} has {ch:?} at position {position}; only lowercase a-z, 0-9 and '-' are allowed"
    )]
    BadChar {
        /// The offending id.
        id: String,
        /// The first bad character.
        ch: char,
        /// Its character position.
        position: usize,
    },
}

fn validate(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if let Some((position, ch)) = id
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(IdError::BadChar {
            id: id.to_owned(),
            ch,
            position,
        });
    }
    if id.len() > MAX_ID_LEN {
        return Err(IdError::TooLong {
            id: id.to_owned(),
            len: id.len(),
        });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps an id.
            pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
                let id = id.into();
                validate(&id)?;
                Ok(Self(id))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(id: String) -> Result<Self, IdError> {
                Self::new(id)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
    };
}

id_type!(
    /// A site (one lab): lowercase `[a-z0-9-]`, 1–64 characters.
    SiteId
);
id_type!(
    /// An instrument within a site: lowercase `[a-z0-9-]`, 1–64 characters.
    InstrumentId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lowercase_digits_and_dashes() {
        assert!(SiteId::new("site-a").is_ok());
        assert!(InstrumentId::new("cobas-c311-1").is_ok());
        assert!(InstrumentId::new("a".repeat(64)).is_ok());
    }

    #[test]
    fn rejects_subject_and_topic_metacharacters() {
        for bad in ["a.b", "a b", "a*", "a>", "a/b", "a+", "a#", "A", "é"] {
            let err = SiteId::new(bad).unwrap_err();
            assert!(matches!(err, IdError::BadChar { .. }), "{bad}: {err}");
        }
        assert_eq!(SiteId::new(""), Err(IdError::Empty));
        assert!(matches!(
            SiteId::new("a".repeat(65)),
            Err(IdError::TooLong { len: 65, .. })
        ));
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<SiteId>("\"site-a\"").is_ok());
        assert!(serde_json::from_str::<SiteId>("\"Site.A\"").is_err());
    }
}
