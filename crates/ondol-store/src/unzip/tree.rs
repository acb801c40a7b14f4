//! The archive's tree as it will stand on disk, built from the central directory
//! before anything is written. It refuses the shapes that would make extraction
//! depend on what earlier entries left behind: the same path twice, a file and a
//! directory at one path, and any path that runs *through* a file or a symlink.
//! Since no entry may pass through a symlink, the writer never meets one; links are
//! created last, once [`Tree::resolve`] has followed each (through chains of the
//! archive's own links) and found it lands inside the root.

use std::collections::HashMap;

/// The kernel's own limit on links followed in one lookup (`MAXSYMLINKS`).
const MAX_HOPS: u32 = 40;

/// What a path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    /// A symlink; its target is filled in once its data has been read.
    Link(Vec<u8>),
}

#[derive(Debug)]
struct Node {
    parent: usize,
    name: Box<[u8]>,
    kind: Kind,
    /// Named by an entry of its own (directories may also be implied by a path).
    explicit: bool,
    children: HashMap<Box<[u8]>, usize>,
}

/// Why a link was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkError {
    /// Resolving it climbs above the root.
    Escapes,
    /// More than [`MAX_HOPS`] links in one resolution (a loop, or a chain as bad).
    TooManyHops,
    /// The archive's links together cost more to resolve than allowed.
    TooComplex,
}

/// The tree; node 0 is the root.
#[derive(Debug)]
pub struct Tree {
    nodes: Vec<Node>,
    max_nodes: usize,
}

const ROOT: usize = 0;

impl Tree {
    /// An empty tree that holds at most `max_nodes` paths (directories included).
    pub fn new(max_nodes: usize) -> Self {
        let root = Node {
            parent: ROOT,
            name: Box::default(),
            kind: Kind::Dir,
            explicit: true,
            children: HashMap::new(),
        };
        Self {
            nodes: vec![root],
            max_nodes,
        }
    }

    /// Adds an entry at `comps` (normalized, non-empty), creating the directories
    /// it implies; returns its node, or the rule it breaks.
    pub fn insert(&mut self, comps: &[&str], kind: Kind) -> Result<usize, String> {
        let (last, dirs) = comps.split_last().expect("components are never empty");
        let mut at = ROOT;
        for (i, comp) in dirs.iter().enumerate() {
            at = match self.child(at, comp.as_bytes()) {
                Some(n) if self.nodes[n].kind == Kind::Dir => n,
                Some(n) => {
                    let what = if self.nodes[n].kind == Kind::File {
                        "a file"
                    } else {
                        "a symlink"
                    };
                    return Err(format!(
                        "goes through '{}', which is {what} in this archive",
                        comps[..=i].join("/")
                    ));
                }
                None => self.add(at, comp, Kind::Dir, false)?,
            };
        }
        let Some(n) = self.child(at, last.as_bytes()) else {
            return self.add(at, last, kind, true);
        };
        let node = &mut self.nodes[n];
        match (&node.kind, &kind) {
            (Kind::Dir, Kind::Dir) if !node.explicit => {
                node.explicit = true;
                Ok(n)
            }
            (Kind::Dir, _) if !node.explicit => {
                Err("is a file or symlink, but earlier entries use it as a directory".into())
            }
            (old, new) if (*old == Kind::Dir) != (*new == Kind::Dir) => {
                Err("is both a directory and a file or symlink".into())
            }
            _ => Err("appears twice (names that differ only by './' or '//' are one)".into()),
        }
    }

    /// Records the target of the link at `node`.
    pub fn set_target(&mut self, node: usize, target: Vec<u8>) {
        self.nodes[node].kind = Kind::Link(target);
    }

    /// Every directory node below the root, parents before children.
    pub fn dirs(&self) -> impl Iterator<Item = usize> + '_ {
        (1..self.nodes.len()).filter(|&n| self.nodes[n].kind == Kind::Dir)
    }

    /// The path of `node` below the root, `/`-separated.
    pub fn path(&self, mut node: usize) -> String {
        let mut parts = Vec::new();
        while node != ROOT {
            parts.push(String::from_utf8_lossy(&self.nodes[node].name));
            node = self.nodes[node].parent;
        }
        parts.reverse();
        parts.join("/")
    }

    /// Follows the link at `link` the way the kernel will once the tree is on disk,
    /// spending one unit of `budget` per component. A missing component is walked
    /// as if it were a directory, which can only make the answer stricter (the
    /// kernel would stop there).
    pub fn resolve(&self, link: usize, budget: &mut u64) -> Result<(), LinkError> {
        let Kind::Link(target) = &self.nodes[link].kind else {
            return Ok(());
        };
        let mut at = self.nodes[link].parent;
        // Components below `at` that do not exist in the archive.
        let mut virtual_depth = 0usize;
        let mut hops = 0;
        let mut pending: Vec<&[u8]> = split_rev(target);
        while let Some(c) = pending.pop() {
            *budget = budget.checked_sub(1).ok_or(LinkError::TooComplex)?;
            match c {
                b"" | b"." => {}
                b".." if virtual_depth > 0 => virtual_depth -= 1,
                b".." if at == ROOT => return Err(LinkError::Escapes),
                b".." => at = self.nodes[at].parent,
                _ if virtual_depth > 0 => virtual_depth += 1,
                _ => match self.child(at, c).map(|n| (n, &self.nodes[n].kind)) {
                    Some((n, Kind::Dir)) => at = n,
                    None | Some((_, Kind::File)) => virtual_depth = 1,
                    Some((_, Kind::Link(next))) => {
                        hops += 1;
                        if hops > MAX_HOPS {
                            return Err(LinkError::TooManyHops);
                        }
                        // Absolute targets were refused when read.
                        pending.extend(split_rev(next));
                    }
                },
            }
        }
        Ok(())
    }

    /// The target of the link at `node` (empty for other kinds).
    pub fn target(&self, node: usize) -> &[u8] {
        match &self.nodes[node].kind {
            Kind::Link(t) => t,
            _ => &[],
        }
    }

    fn child(&self, at: usize, name: &[u8]) -> Option<usize> {
        self.nodes[at].children.get(name).copied()
    }

    fn add(
        &mut self,
        parent: usize,
        name: &str,
        kind: Kind,
        explicit: bool,
    ) -> Result<usize, String> {
        if self.nodes.len() > self.max_nodes {
            return Err(format!(
                "makes the archive unpack to more than {} files and directories",
                self.max_nodes
            ));
        }
        let n = self.nodes.len();
        self.nodes.push(Node {
            parent,
            name: name.as_bytes().into(),
            kind,
            explicit,
            children: HashMap::new(),
        });
        self.nodes[parent]
            .children
            .insert(name.as_bytes().into(), n);
        Ok(n)
    }
}

/// A target's components, last first (so `pop` yields them in order).
fn split_rev(target: &[u8]) -> Vec<&[u8]> {
    target.split(|&b| b == b'/').rev().collect()
}
