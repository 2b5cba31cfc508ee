//! Compose's value formats: byte sizes (`512m`, `1g`), durations (`1m30s`), cpu counts
//! (`0.5`), and the smallest Fargate task size that holds a task's containers.

use serde_json::Value;

/// A byte size in MiB, rounded up. A bare number has no unit: compose reads it as bytes,
/// which is never what a memory limit means, so it is refused with the fix.
pub fn mebibytes(v: &Value) -> Result<u64, String> {
    let text = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => {
            return Err(format!(
                "`{n}` has no unit: compose reads it as {n} bytes; write the unit, e.g. `{n}M` for {n} MiB"
            ))
        }
        other => return Err(format!("must be a size like `512M` or `1G`, not {other}")),
    };
    let lower = text.to_ascii_lowercase();
    let digits: String = lower
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let unit = lower[digits.len()..].trim();
    let amount: f64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size like `512M` or `1G`"))?;
    let factor = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" if unit == "b" => 1.0,
        "" => {
            return Err(format!(
                "`{text}` has no unit: compose reads it as {text} bytes; write the unit, e.g. `{text}M` for {text} MiB"
            ))
        }
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("`{text}` has an unknown unit: use b, k, m or g (`512m`, `1g`)")),
    };
    let mib = (amount * factor / (1024.0 * 1024.0)).ceil();
    if mib < 1.0 {
        return Err(format!("`{text}` is less than 1 MiB"));
    }
    Ok(mib as u64)
}

/// A cpu count (`0.5`, `"2"`) in ECS cpu units (1 vCPU = 1024).
pub fn cpu_units(v: &Value) -> Result<u64, String> {
    let n = match v {
        Value::Number(n) => n.as_f64().unwrap_or(-1.0),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("`{s}` is not a number of CPUs like `0.5`"))?,
        other => return Err(format!("must be a number of CPUs like `0.5`, not {other}")),
    };
    if n.is_nan() || n <= 0.0 {
        return Err(format!("`{v}` must be more than 0 CPUs"));
    }
    Ok((n * 1024.0).round() as u64)
}

/// A duration (`30s`, `1m30s`, `1h`, `500ms`) in whole seconds; a fraction of a second is
/// refused, since ECS counts whole seconds.
pub fn seconds(v: &Value) -> Result<u64, String> {
    let text = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => {
            return Err(format!(
                "`{n}` has no unit: write it as a duration like `{n}s`"
            ))
        }
        other => return Err(format!("must be a duration like `30s`, not {other}")),
    };
    let mut total = 0f64;
    let mut rest = text.as_str();
    if rest.is_empty() {
        return Err("is empty: write a duration like `30s`".into());
    }
    while !rest.is_empty() {
        let n: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let after = &rest[n.len()..];
        let unit: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let amount: f64 = n
            .parse()
            .map_err(|_| format!("`{text}` is not a duration like `30s` or `1m30s`"))?;
        let factor = match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "" => {
                return Err(format!(
                    "`{text}` has no unit: write it as a duration like `{text}s`"
                ))
            }
            _ => {
                return Err(format!(
                    "`{text}` has an unknown unit `{unit}`: use h, m, s or ms"
                ))
            }
        };
        total += amount * factor;
        rest = &after[unit.len()..];
    }
    if total.fract() != 0.0 {
        return Err(format!(
            "`{text}` is not a whole number of seconds, which is what ECS counts"
        ));
    }
    Ok(total as u64)
}

/// Fargate's task sizes: cpu units and the memory (MiB) each allows (the ECS developer
/// guide's table, Linux).
fn fargate_sizes() -> Vec<(u64, Vec<u64>)> {
    let range = |from: u64, to: u64, step: u64| (from..=to).step_by(step as usize).collect();
    vec![
        (256, vec![512, 1024, 2048]),
        (512, range(1024, 4096, 1024)),
        (1024, range(2048, 8192, 1024)),
        (2048, range(4096, 16384, 1024)),
        (4096, range(8192, 30720, 1024)),
        (8192, range(16384, 61440, 4096)),
        (16384, range(32768, 122_880, 8192)),
    ]
}

/// The smallest Fargate size (cpu units, MiB) holding `cpu` units and `memory` MiB: the least
/// memory first, then the least cpu.
pub fn fargate_size(cpu: u64, memory: u64) -> Option<(u64, u64)> {
    fargate_sizes()
        .into_iter()
        .filter(|(c, _)| *c >= cpu)
        .flat_map(|(c, mems)| {
            mems.into_iter()
                .filter(|m| *m >= memory)
                .map(move |m| (c, m))
        })
        .min_by_key(|(c, m)| (*c, *m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_durations_and_cpus() {
        assert_eq!(mebibytes(&json!("512m")), Ok(512));
        assert_eq!(mebibytes(&json!("512M")), Ok(512));
        assert_eq!(mebibytes(&json!("1g")), Ok(1024));
        assert_eq!(mebibytes(&json!("1.5GB")), Ok(1536));
        assert_eq!(mebibytes(&json!("2048k")), Ok(2));
        assert!(mebibytes(&json!(512)).unwrap_err().contains("has no unit"));
        assert!(mebibytes(&json!("512"))
            .unwrap_err()
            .contains("has no unit"));
        assert!(mebibytes(&json!("5x"))
            .unwrap_err()
            .contains("unknown unit"));
        assert_eq!(cpu_units(&json!(0.5)), Ok(512));
        assert_eq!(cpu_units(&json!("2")), Ok(2048));
        assert!(cpu_units(&json!("lots")).is_err());
        assert_eq!(seconds(&json!("1m30s")), Ok(90));
        assert_eq!(seconds(&json!("10s")), Ok(10));
        assert_eq!(seconds(&json!("1h")), Ok(3600));
        assert!(seconds(&json!("1500ms"))
            .unwrap_err()
            .contains("whole number"));
        assert!(seconds(&json!(30)).unwrap_err().contains("no unit"));
    }

    #[test]
    fn the_smallest_fargate_size_that_fits() {
        assert_eq!(fargate_size(0, 0), Some((256, 512)));
        assert_eq!(fargate_size(256, 600), Some((256, 1024)));
        assert_eq!(fargate_size(300, 512), Some((512, 1024)));
        assert_eq!(fargate_size(1024, 3000), Some((1024, 3072)));
        assert_eq!(fargate_size(512, 5000), Some((1024, 5120)));
        assert_eq!(fargate_size(20000, 512), None);
    }
}
