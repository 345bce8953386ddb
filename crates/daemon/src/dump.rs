//! `-d/--dump-conf`: the parsed configuration written to the log, one setting per line, the
//! way keepalived lists its data at startup.

use serde_json::Value;

/// The dump, as log lines.
pub fn dump(config: &ka_config::model::Config) -> anyhow::Result<Vec<String>> {
    let v = serde_json::to_value(config)?;
    let mut out = Vec::new();
    walk(&v, 0, None, &mut out);
    Ok(out)
}

fn walk(v: &Value, depth: usize, key: Option<&str>, out: &mut Vec<String>) {
    let pad = " ".repeat(depth * 3);
    match v {
        Value::Object(map) => {
            if let Some(k) = key {
                out.push(format!("{pad}{k}:"));
            }
            let inner = if key.is_some() { depth + 1 } else { depth };
            for (k, v) in map {
                if k == "location" {
                    continue;
                }
                walk(v, inner, Some(k), out);
            }
        }
        Value::Array(items) => {
            if let Some(k) = key {
                if items.is_empty() {
                    return;
                }
                out.push(format!("{pad}{k} = {} item(s)", items.len()));
            }
            for (n, item) in items.iter().enumerate() {
                walk(item, depth + 1, Some(&format!("#{n}")), out);
            }
        }
        Value::Null => {}
        other => out.push(format!("{pad}{} = {other}", key.unwrap_or("value"))),
    }
}
