//! Walks a span-carrying TOML tree (`toml::de::DeTable`), converting values and collecting every error
//! with its line, column and dotted key path instead of stopping at the first.

use std::fmt::Display;
use std::ops::{Range, RangeInclusive};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::ConfigError;

type Value<'i> = Spanned<DeValue<'i>>;

/// Collects errors and turns byte offsets into line/column positions.
pub(super) struct Collector<'s> {
    origin: &'s str,
    text: &'s str,
    errors: Vec<ConfigError>,
}

impl<'s> Collector<'s> {
    pub fn new(origin: &'s str, text: &'s str) -> Self {
        Collector {
            origin,
            text,
            errors: Vec::new(),
        }
    }

    pub fn error(&mut self, span: &Range<usize>, key: &str, message: impl Into<String>) {
        let (line, column) = self.position(span.start);
        self.errors.push(ConfigError {
            file: self.origin.to_string(),
            line: Some(line),
            column: Some(column),
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// 1-based line of the start of `span`.
    pub fn line_of(&self, span: &Range<usize>) -> usize {
        self.position(span.start).0
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// The errors in file order (stable, so errors at one spot keep the order they were found in).
    pub fn finish(mut self) -> Vec<ConfigError> {
        self.errors.sort_by_key(|e| (e.line, e.column));
        self.errors
    }
}

/// A value read from the file, with where it was.
pub(super) struct Field<T> {
    pub value: T,
    pub span: Range<usize>,
    pub key: String,
}

/// One TOML table being read; `table` is `None` for a section absent from the file (all defaults).
#[derive(Clone)]
pub(super) struct Section<'t, 'i> {
    pub path: String,
    pub span: Range<usize>,
    table: Option<&'t DeTable<'i>>,
}

impl<'t, 'i> Section<'t, 'i> {
    pub fn root(table: &'t Spanned<DeTable<'i>>) -> Self {
        Section {
            path: String::new(),
            span: 0..0,
            table: Some(table.get_ref()),
        }
    }

    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Reports every key not in `allowed`, each at its own line.
    pub fn check_keys(&self, c: &mut Collector, allowed: &[&str]) {
        for (key, _) in self.table.into_iter().flat_map(|t| t.iter()) {
            if !allowed.contains(&&**key.get_ref()) {
                let expected = allowed.join(", ");
                c.error(
                    &key.span(),
                    &self.key_path(key.get_ref()),
                    format!("unknown key (expected one of: {expected})"),
                );
            }
        }
    }

    /// The keys of this table (a table of free-form names, such as `[[alert]] headers`).
    pub fn keys(&self) -> Vec<String> {
        self.table
            .into_iter()
            .flat_map(|t| t.iter())
            .map(|(key, _)| key.get_ref().to_string())
            .collect()
    }

    pub fn has(&self, key: &str) -> bool {
        self.value(key).is_some()
    }

    fn value(&self, key: &str) -> Option<&'t Value<'i>> {
        self.table.and_then(|t| t.get(key))
    }

    /// The sub-table `key` (absent: an empty section, so defaults apply).
    pub fn table(&self, c: &mut Collector, key: &str) -> Section<'t, 'i> {
        let path = self.key_path(key);
        match self.value(key) {
            None => Section {
                path,
                span: self.span.clone(),
                table: None,
            },
            Some(value) => match value.get_ref() {
                DeValue::Table(table) => Section {
                    path,
                    span: value.span(),
                    table: Some(table),
                },
                other => {
                    c.error(
                        &value.span(),
                        &path,
                        format!("expected a table ([{path}]), found {}", other.type_str()),
                    );
                    Section {
                        path,
                        span: value.span(),
                        table: None,
                    }
                }
            },
        }
    }

    /// The array of tables `key` (`[[key]]`), each element as a section `key[i]`; `None` if absent.
    /// A wrong type or an empty array is reported here.
    pub fn tables(&self, c: &mut Collector, key: &str) -> Option<Vec<Section<'t, 'i>>> {
        let value = self.value(key)?;
        let path = self.key_path(key);
        let DeValue::Array(items) = value.get_ref() else {
            c.error(
                &value.span(),
                &path,
                format!("expected an array of tables ([[{path}]])"),
            );
            return Some(Vec::new());
        };
        if items.is_empty() {
            c.error(
                &value.span(),
                &path,
                format!("empty: at least one [[{path}]] is required"),
            );
        }
        let mut sections = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{index}]");
            match item.get_ref() {
                DeValue::Table(table) => sections.push(Section {
                    path: item_path,
                    span: item.span(),
                    table: Some(table),
                }),
                other => c.error(
                    &item.span(),
                    &item_path,
                    format!("expected a table, found {}", other.type_str()),
                ),
            }
        }
        Some(sections)
    }

    /// The value at `key` converted by `convert`; `None` if absent or invalid (the error is recorded).
    pub fn get<T>(
        &self,
        c: &mut Collector,
        key: &str,
        convert: impl FnOnce(&DeValue) -> Result<T, String>,
    ) -> Option<Field<T>> {
        let value = self.value(key)?;
        let key = self.key_path(key);
        match convert(value.get_ref()) {
            Ok(converted) => Some(Field {
                value: converted,
                span: value.span(),
                key,
            }),
            Err(message) => {
                c.error(&value.span(), &key, message);
                None
            }
        }
    }

    /// The array at `key`, each item converted; bad items are reported as `key[i]` (then `None`).
    pub fn list<T>(
        &self,
        c: &mut Collector,
        key: &str,
        convert: impl Fn(&DeValue) -> Result<T, String>,
    ) -> Option<Field<Vec<T>>> {
        let value = self.value(key)?;
        let key = self.key_path(key);
        let DeValue::Array(items) = value.get_ref() else {
            c.error(
                &value.span(),
                &key,
                format!("expected an array, found {}", value.get_ref().type_str()),
            );
            return None;
        };
        let mut converted = Vec::with_capacity(items.len());
        let mut all_valid = true;
        for (index, item) in items.iter().enumerate() {
            match convert(item.get_ref()) {
                Ok(ok) => converted.push(ok),
                Err(message) => {
                    c.error(&item.span(), &format!("{key}[{index}]"), message);
                    all_valid = false;
                }
            }
        }
        all_valid.then(|| Field {
            value: converted,
            span: value.span(),
            key,
        })
    }
}

/// `value` itself if it lies within `bounds`, else a message naming the bounds.
pub(super) fn within<T: PartialOrd>(
    value: T,
    bounds: &RangeInclusive<T>,
    show: impl Fn(&T) -> String,
) -> Result<T, String> {
    if bounds.contains(&value) {
        return Ok(value);
    }
    let (value, low, high) = (show(&value), show(bounds.start()), show(bounds.end()));
    Err(format!("{value} is out of range ({low} to {high})"))
}

pub(super) fn string(value: &DeValue) -> Result<String, String> {
    match value {
        DeValue::String(text) => Ok(text.to_string()),
        other => Err(format!("expected a string, found {}", other.type_str())),
    }
}

pub(super) fn boolean(value: &DeValue) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("expected true or false, found {}", value.type_str()))
}

/// A non-negative integer.
pub(super) fn unsigned(value: &DeValue) -> Result<u64, String> {
    let DeValue::Integer(integer) = value else {
        return Err(format!("expected an integer, found {}", value.type_str()));
    };
    u64::from_str_radix(integer.as_str(), integer.radix())
        .map_err(|_| format!("{integer} is not a non-negative integer that fits in 64 bits"))
}

/// A string turned into `T` by a pure parser.
pub(super) fn parsed<T>(
    parse: impl Fn(&str) -> Result<T, String>,
) -> impl Fn(&DeValue) -> Result<T, String> {
    move |value| string(value).and_then(|text| parse(&text))
}

pub(super) fn show_number<T: Display>(value: &T) -> String {
    value.to_string()
}
