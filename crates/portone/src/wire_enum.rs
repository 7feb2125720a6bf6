//! PortOne's string enums, declared once each as `Variant = "text"` pairs: the text is written in
//! one place and `as_str`, parsing, `Display` and serde all derive from it.
//!
//! The default form keeps any value it does not know as `Other(text)`: PortOne may add a status
//! or a currency to its answers at any time, and an answer must stay readable (a caller decides
//! what an unknown value means). `closed` enums are the caller's own choices sent to PortOne
//! (a search's status filter, a sorting): they have no `Other`, and parsing an unknown value
//! gives `None`.

macro_rules! wire_enum {
    (closed $(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value named by `text`, if it is one of [`Self::KNOWN`].
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Every value, in the spec's order.
            pub const KNOWN: &'static [&'static str] = &[$($text),+];
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version does not know, kept as PortOne wrote it.
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(s) => s.as_str(),
                }
            }

            /// Reads PortOne's text; an unknown value is kept as [`Self::Other`].
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => $name::$variant,)+
                    other => $name::Other(other.to_owned()),
                }
            }

            /// The values this version knows, in the spec's order.
            pub const KNOWN: &'static [&'static str] = &[$($text),+];
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self::parse(text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::parse(s))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Ok(Self::parse(&text))
            }
        }
    };
}
pub(crate) use wire_enum;

#[cfg(test)]
mod tests {
    wire_enum!(
        /// An open enum.
        Colour { Red = "red", Blue = "blue" }
    );
    wire_enum!(closed Order { Up = "-up", Down = "down" });

    #[test]
    fn open_enums_keep_unknown_values_and_round_trip() {
        assert_eq!(Colour::parse("red"), Colour::Red);
        assert_eq!(Colour::from("green"), Colour::Other("green".into()));
        assert_eq!("blue".parse::<Colour>(), Ok(Colour::Blue));
        for text in ["red", "blue", "green"] {
            let c: Colour = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(serde_json::to_value(&c).unwrap(), serde_json::json!(text));
            assert_eq!(c.to_string(), text);
        }
        assert_eq!(Colour::KNOWN, &["red", "blue"]);
    }

    #[test]
    fn closed_enums_refuse_unknown_values() {
        assert_eq!(Order::parse("-up"), Some(Order::Up));
        assert_eq!(Order::parse("up"), None);
        assert_eq!(Order::Down.as_str(), "down");
        assert_eq!(Order::Up.to_string(), "-up");
        assert_eq!(Order::KNOWN, &["-up", "down"]);
    }
}
