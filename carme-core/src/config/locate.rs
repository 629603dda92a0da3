//! Locating keys: the line of a dotted key in the file, for messages.

pub(super) fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// The line where a dotted key (`images.base.mounts[0].mode`) is written, or
/// the closest enclosing key that can be found.
pub(super) fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let doc = text.parse::<toml_edit::Document<String>>().ok()?;
    let segments = split_key(key);
    // Try the full path, then ever shorter prefixes.
    for n in (1..=segments.len()).rev() {
        if let Some(offset) = span_of(doc.as_table(), &segments[..n]) {
            return Some(line_at(text, offset));
        }
    }
    None
}

/// Remove the item at a dotted key path (`images.base.shape`) from `doc`;
/// whether there was one.
pub(super) fn remove_key(doc: &mut toml_edit::DocumentMut, key: &str) -> bool {
    use toml_edit::{Item, Value};
    let segments = split_key(key);
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut item: &mut Item = doc.as_item_mut();
    for seg in parents {
        let next = match seg {
            Seg::Key(k) => item.get_mut(k.as_str()),
            Seg::Index(i) => item.get_mut(*i),
        };
        match next {
            Some(n) => item = n,
            None => return false,
        }
    }
    match (last, item) {
        (Seg::Key(k), item) => item
            .as_table_like_mut()
            .is_some_and(|t| t.remove(k).is_some()),
        (Seg::Index(i), Item::ArrayOfTables(a)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        (Seg::Index(i), Item::Value(Value::Array(a))) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

pub(super) enum Seg {
    Key(String),
    Index(usize),
}

pub(super) fn split_key(key: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Seg::Key(name.to_string()));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Seg::Index(i));
            }
        }
    }
    out
}

pub(super) fn span_of(table: &toml_edit::Table, path: &[Seg]) -> Option<usize> {
    use toml_edit::{Item, Value};
    // Where we are: a table-like (to look keys up in) or an array (to index).
    enum Node<'a> {
        Table(&'a dyn toml_edit::TableLike),
        Tables(&'a toml_edit::ArrayOfTables),
        Array(&'a toml_edit::Array),
        Leaf,
    }
    fn node_of(item: &Item) -> Node<'_> {
        match item {
            Item::Table(t) => Node::Table(t),
            Item::ArrayOfTables(a) => Node::Tables(a),
            Item::Value(Value::InlineTable(t)) => Node::Table(t),
            Item::Value(Value::Array(a)) => Node::Array(a),
            _ => Node::Leaf,
        }
    }
    let mut node = Node::Table(table);
    let mut at = None;
    for seg in path {
        node = match (seg, node) {
            (Seg::Key(k), Node::Table(t)) => {
                let (key, item) = t.get_key_value(k)?;
                at = key.span().map(|s| s.start).or(at);
                node_of(item)
            }
            (Seg::Index(i), Node::Tables(a)) => {
                let t = a.get(*i)?;
                at = t.span().map(|s| s.start).or(at);
                Node::Table(t)
            }
            (Seg::Index(i), Node::Array(a)) => {
                let v = a.get(*i)?;
                at = v.span().map(|s| s.start).or(at);
                match v {
                    Value::InlineTable(t) => Node::Table(t),
                    Value::Array(a) => Node::Array(a),
                    _ => Node::Leaf,
                }
            }
            _ => return None,
        };
    }
    at
}
