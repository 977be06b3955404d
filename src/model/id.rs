//! Record ids: ULIDs, written in upper-case Crockford base 32. Users may type any unique prefix
//! in any case.

/// A fresh id for a new record.
pub fn new_id() -> String {
    ulid::Ulid::new().to_string()
}

/// Whether `text` is a well-formed ULID in canonical (upper-case) form.
pub fn is_canonical_id(text: &str) -> bool {
    text.len() == 26 && ulid::Ulid::from_string(text).is_ok_and(|u| u.to_string() == text)
}

/// Normalise what a user typed as an id or id prefix: trimmed and upper-cased.
/// Returns `None` when it cannot be part of an id at all.
pub fn normalize_prefix(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() || text.len() > 26 || !text.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(text.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_canonical_and_ordered() {
        let a = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id();
        assert!(is_canonical_id(&a) && is_canonical_id(&b));
        assert!(a < b);
    }

    #[test]
    fn prefixes_are_case_insensitive_and_checked() {
        assert_eq!(normalize_prefix(" 01jab "), Some("01JAB".into()));
        assert_eq!(normalize_prefix(""), None);
        assert_eq!(normalize_prefix("01/.."), None);
        assert!(!is_canonical_id("01jab"));
        assert!(!is_canonical_id("not-an-id"));
    }
}
