//! Where a key is in manifest text: the line a resolve error points at, found by
//! walking the key path (`routes[2].route`) through a span-keeping parse.

use toml_edit::{ImDocument, Item, Table, Value};

enum Node<'a> {
    Table(&'a Table),
    Item(&'a Item),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn of(item: &'a Item) -> Self {
        match item {
            Item::Table(t) => Node::Table(t),
            Item::Value(v) => Node::Value(v),
            other => Node::Item(other),
        }
    }

    fn span(&self) -> Option<std::ops::Range<usize>> {
        match self {
            Node::Table(t) => t.span(),
            Node::Item(i) => i.span(),
            Node::Value(v) => v.span(),
        }
    }

    fn get(&self, key: &str) -> Option<Node<'a>> {
        match self {
            Node::Table(t) => t.get(key).map(Node::of),
            Node::Value(Value::InlineTable(t)) => t.get(key).map(Node::Value),
            _ => None,
        }
    }

    fn index(&self, i: usize) -> Option<Node<'a>> {
        match self {
            Node::Item(Item::ArrayOfTables(a)) => a.get(i).map(Node::Table),
            Node::Value(Value::Array(a)) => a.get(i).map(Node::Value),
            _ => None,
        }
    }
}

/// The 1-based line of the deepest part of `key` found in `text`.
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    let doc = ImDocument::parse(text).ok()?;
    let mut node = Node::Table(&doc);
    let mut start = None;
    'walk: for part in key.split('.') {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        let Some(next) = node.get(name) else { break };
        node = next;
        start = node.span().map(|s| s.start).or(start);
        for idx in rest.split('[').filter(|x| !x.is_empty()) {
            let i = idx.trim_end_matches(']').parse().ok();
            let Some(next) = i.and_then(|i| node.index(i)) else {
                break 'walk;
            };
            node = next;
            start = node.span().map(|s| s.start).or(start);
        }
    }
    start.map(|s| text[..s.min(text.len())].matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "app = \"a\"\n\n[functions.f]\nruntime = \"x\"\nenvironment = { A = \"1\" }\n\n[[routes]]\nroute = \"GET /a\"\n\n[[routes]]\nroute = \"GET /b\"\nhost = \"h\"\n\n[http]\ncors = { allow_origins = [\"*\", \"o\"] }\n";

    #[test]
    fn finds_the_line_of_a_key() {
        assert_eq!(line_of(TEXT, "app"), Some(1));
        assert_eq!(line_of(TEXT, "functions.f.environment"), Some(5));
        assert_eq!(line_of(TEXT, "functions.f"), Some(3));
        assert_eq!(line_of(TEXT, "routes[1].route"), Some(11));
        assert_eq!(line_of(TEXT, "routes[1].host"), Some(12));
        assert_eq!(line_of(TEXT, "http.cors.allow_origins[1]"), Some(15));
        // A key not written (a default) points at its nearest written parent.
        assert_eq!(line_of(TEXT, "functions.f.memory_mb"), Some(3));
        assert_eq!(line_of(TEXT, "nothing.here"), None);
    }
}
