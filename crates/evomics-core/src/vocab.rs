//! One spelling per enumerated setting, shared by the command line, config files and outputs.
//!
//! [`vocabulary!`](crate::vocabulary) gives a fieldless enum its canonical names and aliases;
//! parsing ignores case and treats `-` and `_` alike, so `group-k-fold`, `GROUP_K_FOLD` and the
//! alias `group_kfold` all read as `group_k_fold`, and every output writes the canonical name.
//! The enum gets `name()`, `NAMES`, `FromStr` (what clap uses), `Display`, and serde
//! (a string; `true`/`false` booleans are read as the names `true`/`false`).

/// `key` normalised for comparison: lower case, `-` as `_`, surrounding space trimmed.
pub fn normalize_key(key: &str) -> String {
    key.trim().to_ascii_lowercase().replace('-', "_")
}

/// Give a fieldless enum one vocabulary:
///
/// ```
/// #[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// pub enum Voom { Auto, On, Off }
/// evomics_core::vocabulary!(Voom { Auto => "auto", On => "true" | "yes" | "on", Off => "false" | "no" | "off" });
///
/// assert_eq!("YES".parse::<Voom>().unwrap(), Voom::On);
/// assert_eq!(Voom::Off.to_string(), "false");
/// assert!("maybe".parse::<Voom>().unwrap_err().contains("auto, true, false"));
/// ```
#[macro_export]
macro_rules! vocabulary {
    ($ty:ident { $($variant:ident => $name:literal $(| $alias:literal)*),+ $(,)? }) => {
        impl $ty {
            /// The canonical names, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The canonical name.
            pub fn name(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }

            /// Parse a name or alias (case-insensitive, `-` = `_`).
            pub fn parse_name(s: &str) -> ::std::result::Result<Self, String> {
                let k = $crate::vocab::normalize_key(s);
                $(
                    if k == $crate::vocab::normalize_key($name)
                        $(|| k == $crate::vocab::normalize_key($alias))*
                    {
                        return Ok($ty::$variant);
                    }
                )+
                Err(format!("'{}' is not one of {}", s, Self::NAMES.join(", ")))
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> ::std::result::Result<Self, String> {
                Self::parse_name(s)
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl $crate::__serde::Serialize for $ty {
            fn serialize<S: $crate::__serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> $crate::__serde::Deserialize<'de> for $ty {
            fn deserialize<D: $crate::__serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                struct V;
                impl<'de> $crate::__serde::de::Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        write!(f, "one of {}", $ty::NAMES.join(", "))
                    }
                    fn visit_str<E: $crate::__serde::de::Error>(self, v: &str) -> ::std::result::Result<$ty, E> {
                        $ty::parse_name(v).map_err(E::custom)
                    }
                    fn visit_bool<E: $crate::__serde::de::Error>(self, v: bool) -> ::std::result::Result<$ty, E> {
                        $ty::parse_name(if v { "true" } else { "false" }).map_err(E::custom)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

/// Serde for doubles that may be infinite or NaN, which JSON cannot hold as numbers: finite
/// values are numbers, the others the strings `Inf`, `-Inf` and `NaN` (R's spellings).
/// Use with `#[serde(with = "evomics_core::vocab::nonfinite")]`.
pub mod nonfinite {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f64),
        Text(String),
    }

    /// Serialize a double (non-finite values as text).
    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else if x.is_nan() {
            s.serialize_str("NaN")
        } else if *x > 0.0 {
            s.serialize_str("Inf")
        } else {
            s.serialize_str("-Inf")
        }
    }

    /// Read a double written by [`serialize`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Num(x) => Ok(x),
            Repr::Text(t) => match t.as_str() {
                "Inf" => Ok(f64::INFINITY),
                "-Inf" => Ok(f64::NEG_INFINITY),
                "NaN" => Ok(f64::NAN),
                other => Err(serde::de::Error::custom(format!(
                    "'{other}' is not a number (Inf, -Inf, NaN or a number)"
                ))),
            },
        }
    }
}
