//! Request-path normalisation: the one path the front door routes on, puts in
//! events and sends to web-mode upstreams, so a rule in front of an app and the
//! app itself never disagree about which path was asked for.
//!
//! - Dot segments are removed as RFC 3986 §5.2.4 says, `..` above the root stays
//!   at the root, and `%2e` / `%2E` count as a dot (`.%2e`, `%2e%2e`...): servers
//!   behind us decode them, so they must be resolved before routing.
//! - `%2F` / `%2f` (and `%5C`) stay encoded: data inside a segment, never split.
//! - A raw `\` is a separator, as the WHATWG URL Standard says for `http:` URLs
//!   (browsers, Node's `new URL` and Envoy treat it so): otherwise `/a\..\b` would
//!   route as one thing and mean `/b` to such an upstream.
//! - Repeated slashes are merged (nginx's default): an upstream that merges them
//!   would otherwise serve `//admin` as `/admin` past an `/admin` route, and one
//!   that does not could read `//host/x` as a scheme-relative URL. The cost: an
//!   empty segment cannot be expressed; a path carrying a URL encodes its `//`.
//! - The query string is not touched. We serve the normalised path rather than
//!   redirect to it (as nginx does): no extra round trip, same meaning.

use std::borrow::Cow;

use http::uri::{PathAndQuery, Uri};

/// What one segment is, with `%2e` read as a dot.
#[derive(PartialEq)]
enum Segment {
    Empty,
    Dot,
    DotDot,
    Name,
}

fn classify(seg: &str) -> Segment {
    if seg.is_empty() {
        return Segment::Empty;
    }
    let mut rest = seg.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() && dots < 3 {
        if rest[0] == b'.' {
            rest = &rest[1..];
        } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"%2e") {
            rest = &rest[3..];
        } else {
            return Segment::Name;
        }
        dots += 1;
    }
    match (rest.is_empty(), dots) {
        (true, 1) => Segment::Dot,
        (true, 2) => Segment::DotDot,
        _ => Segment::Name,
    }
}

/// The normalised form of an absolute request path (see the module doc); a path
/// that does not start with `/` (`*`) is returned as it is.
pub fn normalize(path: &str) -> Cow<'_, str> {
    let Some(rest) = path.strip_prefix('/') else {
        return Cow::Borrowed(path);
    };
    let mut kept: Vec<&str> = Vec::new();
    // Whether the path ends in a slash: after `x/`, `x/.` and `x/..` it does.
    let mut trailing = false;
    for seg in rest.split(['/', '\\']) {
        trailing = true;
        match classify(seg) {
            Segment::Empty | Segment::Dot => {}
            Segment::DotDot => {
                kept.pop();
            }
            Segment::Name => {
                kept.push(seg);
                trailing = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for seg in &kept {
        out.push('/');
        out.push_str(seg);
    }
    if trailing || kept.is_empty() {
        out.push('/');
    }
    if out == path {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(out)
    }
}

/// The URI with its path normalised and its query kept byte for byte; `None`
/// if the result is not a valid URI (it is made of the original's characters,
/// so this does not happen in practice).
pub fn normalize_uri(uri: &Uri) -> Option<Uri> {
    let Cow::Owned(path) = normalize(uri.path()) else {
        return Some(uri.clone());
    };
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(pq).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3986 §5.4 resolves references against `http://a/b/c/d;p?q`: these are
    /// the merged paths of §5.2.2 (base directory + reference) before
    /// remove_dot_segments, and the paths §5.4 gives as results.
    const RFC_NORMAL: [(&str, &str); 15] = [
        ("/b/c/g", "/b/c/g"),
        ("/b/c/./g", "/b/c/g"),
        ("/b/c/g/", "/b/c/g/"),
        ("/g", "/g"),
        ("/b/c/;x", "/b/c/;x"),
        ("/b/c/g;x", "/b/c/g;x"),
        ("/b/c/d;p", "/b/c/d;p"),
        ("/b/c/.", "/b/c/"),
        ("/b/c/./", "/b/c/"),
        ("/b/c/..", "/b/"),
        ("/b/c/../", "/b/"),
        ("/b/c/../g", "/b/g"),
        ("/b/c/../..", "/"),
        ("/b/c/../../", "/"),
        ("/b/c/../../g", "/g"),
    ];

    const RFC_ABNORMAL: [(&str, &str); 14] = [
        ("/b/c/../../../g", "/g"),
        ("/b/c/../../../../g", "/g"),
        ("/./g", "/g"),
        ("/../g", "/g"),
        ("/b/c/g.", "/b/c/g."),
        ("/b/c/.g", "/b/c/.g"),
        ("/b/c/g..", "/b/c/g.."),
        ("/b/c/..g", "/b/c/..g"),
        ("/b/c/./../g", "/b/g"),
        ("/b/c/./g/.", "/b/c/g/"),
        ("/b/c/g/./h", "/b/c/g/h"),
        ("/b/c/g/../h", "/b/c/h"),
        ("/b/c/g;x=1/./y", "/b/c/g;x=1/y"),
        ("/b/c/g;x=1/../y", "/b/c/y"),
    ];

    fn check(cases: &[(&str, &str)]) {
        for (input, want) in cases {
            assert_eq!(normalize(input), *want, "normalize({input:?})");
        }
    }

    #[test]
    fn rfc3986_examples() {
        check(&RFC_NORMAL);
        check(&RFC_ABNORMAL);
        // §5.2.4's own worked example.
        check(&[("/a/b/c/./../../g", "/a/g")]);
    }

    #[test]
    fn encoded_dots_are_dots() {
        check(&[
            ("/site/%2e%2e/%2E%2E/etc/passwd", "/etc/passwd"),
            ("/a/.%2e/b", "/b"),
            ("/a/%2e./b", "/b"),
            ("/a/%2E/b", "/a/b"),
            ("/a/%2e%2e%2e/b", "/a/%2e%2e%2e/b"),
            ("/a/%2e%2ex/b", "/a/%2e%2ex/b"),
            ("/a/%252e%252e/b", "/a/%252e%252e/b"),
            ("/a/%2", "/a/%2"),
        ]);
    }

    #[test]
    fn encoded_slashes_stay_data() {
        check(&[
            ("/a/..%2F..%2Fetc", "/a/..%2F..%2Fetc"),
            ("/a/b%2fc/../d", "/a/d"),
            ("/a/%2e%2e%2fb", "/a/%2e%2e%2fb"),
            ("/a/..%5C..", "/a/..%5C.."),
        ]);
    }

    #[test]
    fn slashes_and_backslashes() {
        check(&[
            ("/", "/"),
            ("//", "/"),
            ("//admin", "/admin"),
            ("/a//b///c", "/a/b/c"),
            ("/a/b//", "/a/b/"),
            ("/a\\..\\b", "/b"),
            ("/echo\\..\\site\\x", "/site/x"),
            ("/..", "/"),
            ("/a/..", "/"),
            ("/.", "/"),
        ]);
    }

    #[test]
    fn unchanged_paths_are_borrowed() {
        assert!(matches!(normalize("/a/b/c"), Cow::Borrowed(_)));
        assert!(matches!(normalize("*"), Cow::Borrowed("*")));
        assert!(matches!(normalize("/a/.b/c./"), Cow::Borrowed(_)));
    }

    #[test]
    fn uris_keep_their_query() {
        let u: Uri = "/a/../b?x=/../y&z=%2e%2e".parse().unwrap();
        assert_eq!(normalize_uri(&u).unwrap(), "/b?x=/../y&z=%2e%2e");
        let u: Uri = "http://h:1/a/./b".parse().unwrap();
        assert_eq!(normalize_uri(&u).unwrap(), "http://h:1/a/b");
        let u: Uri = "/a/b".parse().unwrap();
        assert_eq!(normalize_uri(&u).unwrap(), "/a/b");
    }
}
