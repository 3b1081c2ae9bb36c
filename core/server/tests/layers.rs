//! The server's layering, checked on its source: transports (socket/, http/, subsonic/, control/) on top of
//! services (service/) on top of stores (store/), with live changes going up through the bus.
//! A service or store that imports a transport (or the wiring in app.rs) fails this test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("readable source folder")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Folders whose files are modules of their own in the graph (`store::songs`, `service::library`).
const LAYERS: &[&str] = &["store", "service", "socket", "http", "subsonic", "control"];

/// The module a source file belongs to: `bus`, `app`, or `layer::name` inside a layer folder.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let parts: Vec<String> = rel
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    match parts.as_slice() {
        [layer, name, ..] if LAYERS.contains(&layer.as_str()) => format!("{layer}::{name}"),
        [first, ..] => first.clone(),
        [] => String::new(),
    }
}

fn layer(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// Top-level modules a file names through `crate::`, and crates it names that belong to a
/// transport (socketioxide, poem). Only code before the file's tests counts.
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let mut found = BTreeSet::new();
    for line in code.lines().map(str::trim) {
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut parts = name.split("::").filter(|p| !p.is_empty());
            match (parts.next(), parts.next()) {
                (Some(first), Some(second)) if LAYERS.contains(&first) => {
                    found.insert(format!("{first}::{second}"));
                }
                (Some(first), _) => {
                    found.insert(first.to_string());
                }
                _ => {}
            }
        }
        for krate in ["socketioxide", "poem"] {
            if line.contains(&format!("{krate}::")) {
                found.insert(krate.to_string());
            }
        }
    }
    found
}

#[test]
fn services_and_stores_never_import_a_transport_and_modules_form_no_loop() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 20, "found the server's sources");

    let transports = [
        "socket",
        "http",
        "subsonic",
        "control",
        "app",
        "serve",
        "cli",
        "socketioxide",
        "poem",
    ];
    let forbidden: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        ("store", [&transports[..], &["service", "bus"]].concat()),
        ("service", transports.to_vec()),
        ("bus", [&transports[..], &["service"]].concat()),
    ]);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut violations = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        let text = std::fs::read_to_string(file).expect("readable source file");
        let used = imports(&text);
        if let Some(banned) = forbidden.get(layer(&module)) {
            for name in &used {
                if banned.contains(&layer(name)) {
                    violations.push(format!("{} imports {name}", file.display()));
                }
            }
        }
        let edges = graph.entry(module.clone()).or_default();
        edges.extend(used.into_iter().filter(|m| *m != module));
    }
    assert!(
        violations.is_empty(),
        "layer violations:\n{}",
        violations.join("\n")
    );

    // No loop between modules (depth-first search for a back edge).
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!(
                "modules import each other in a loop: {}",
                cycle.join(" -> ")
            );
        }
    }
}
