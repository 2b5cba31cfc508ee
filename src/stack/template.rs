//! The local side of the stack: the template file (JSON, or YAML with CloudFormation's
//! short-form tags) parsed into one comparable JSON document, and the stack parameters from
//! `Key=Value` lines or a `file://params.json`. Pure and checked before AWS is touched: every
//! problem names the file and, for syntax, the line and column.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::config::{StackInputs, StackParameters};
use crate::document::{self, Kind};
use crate::error::InputProblem;
use crate::gha::Location;

pub use crate::document::Problem;

/// The local template and parameters, validated.
#[derive(Debug, Clone)]
pub struct Local {
    /// The file's text, sent as `TemplateBody` as written.
    pub body: String,
    /// The parsed document (short-form tags expanded), for comparing with the deployed one.
    pub doc: Value,
    /// The parameters given, in the order given.
    pub parameters: Vec<(String, String)>,
    /// Why `auto` cannot trust a comparison with the deployed stack; empty when it can.
    pub opaque: Vec<String>,
}

impl Local {
    pub fn output_keys(&self) -> BTreeSet<String> {
        self.doc
            .get("Outputs")
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The values given for `NoEcho` parameters: secrets, never to be printed.
    pub fn secret_values(&self) -> Vec<&str> {
        let params = self.doc.get("Parameters").and_then(Value::as_object);
        self.parameters
            .iter()
            .filter(|(k, _)| {
                params
                    .and_then(|p| p.get(k))
                    .and_then(|p| p.get("NoEcho"))
                    .is_some_and(|n| {
                        n == &Value::Bool(true)
                            || n.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
                    })
            })
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The template's declared parameter names.
    pub fn declared(&self) -> BTreeSet<String> {
        self.doc
            .get("Parameters")
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Reads and checks the template and the parameters; every problem found is returned.
pub fn load(inputs: &StackInputs) -> Result<Local, Vec<InputProblem>> {
    let mut problems = Vec::new();
    let shown = &inputs.template_shown;
    let at = |line: Option<usize>, col: Option<usize>| Location {
        file: Some(shown.into()),
        line,
        col,
    };
    let parsed = document::read(&inputs.template, Kind::Template).and_then(|body| {
        let doc = parse(&inputs.template, &body)?;
        check_shape(&doc)?;
        Ok((body, doc))
    });
    let (body, doc) = match parsed {
        Ok(x) => x,
        Err(p) => {
            problems.push(InputProblem::at(
                at(p.line, p.column),
                format!("input stack-template: {shown}: {}", p.message),
            ));
            (String::new(), Value::Null)
        }
    };
    let parameters = match &inputs.parameters {
        StackParameters::Pairs(pairs) => pairs.clone(),
        StackParameters::File(path) => match parameter_file(path) {
            Ok(p) => p,
            Err(p) => {
                problems.push(InputProblem::at(
                    Location {
                        file: Some(path.clone()),
                        line: p.line,
                        col: p.column,
                    },
                    format!(
                        "input stack-parameters: {}: {}",
                        path.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                        p.message
                    ),
                ));
                Vec::new()
            }
        },
    };
    let mut seen = BTreeSet::new();
    for (k, _) in &parameters {
        if !seen.insert(k.as_str()) {
            problems.push(InputProblem::new(format!(
                "input stack-parameters: parameter {k} is given twice: keep one"
            )));
        }
    }
    let local = Local {
        body,
        opaque: opaque_reasons(&doc),
        doc,
        parameters,
    };
    if !local.doc.is_null() {
        let declared = local.declared();
        for (n, (k, _)) in local.parameters.iter().enumerate() {
            if !declared.contains(k) && !k.chars().all(|c| c.is_ascii_alphanumeric()) {
                // Not a name CloudFormation allows (letters and digits): most likely a piece of
                // a multi-line value that held `=`, so it is not shown.
                problems.push(InputProblem::new(format!(
                    "input stack-parameters: pair {} has a key that is not a parameter name (parameter names are letters and digits): check the {} line with `=`, and pass multi-line values in a parameters file (file://params.json)",
                    n + 1,
                    ordinal(n + 1)
                )));
            } else if !declared.contains(k) {
                problems.push(InputProblem::new(format!(
                    "input stack-parameters: {k} is not a parameter of {shown} (it declares: {}): fix the name or add it to the template's Parameters",
                    if declared.is_empty() {
                        "none".to_string()
                    } else {
                        declared.iter().cloned().collect::<Vec<_>>().join(", ")
                    }
                )));
            }
        }
    }
    if problems.is_empty() {
        Ok(local)
    } else {
        Err(problems)
    }
}

/// Parses a template as CloudFormation does: JSON when it looks like JSON, YAML otherwise,
/// with the short-form tags (`!Ref`, `!Sub`, `!GetAtt`, ...) turned into their long forms so
/// a template and its deployed copy compare equal whichever form they use.
pub fn parse(path: &Path, text: &str) -> Result<Value, Problem> {
    document::parse(path, text, Kind::Template)
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn check_shape(doc: &Value) -> Result<(), Problem> {
    let Some(top) = doc.as_object() else {
        return Err(Problem {
            line: Some(1),
            column: None,
            message: "a CloudFormation template must be a mapping (AWSTemplateFormatVersion, Parameters, Resources, Outputs, ...)".into(),
        });
    };
    if !top.get("Resources").is_some_and(Value::is_object) {
        return Err(Problem::plain(
            "the template has no Resources mapping: CloudFormation requires at least one resource"
                .into(),
        ));
    }
    for section in ["Parameters", "Outputs"] {
        if top.get(section).is_some_and(|v| !v.is_object()) {
            return Err(Problem::plain(format!(
                "the template's {section} section must be a mapping of names to definitions"
            )));
        }
    }
    Ok(())
}

/// What makes the deployed template and parameters an incomplete picture: `auto` deploys
/// (and lets an empty change set mean "no change") instead of trusting a comparison.
fn opaque_reasons(doc: &Value) -> Vec<String> {
    let mut why = Vec::new();
    if doc.get("Transform").is_some() {
        why.push("the template uses a Transform".to_string());
    }
    if let Some(params) = doc.get("Parameters").and_then(Value::as_object) {
        for (name, p) in params {
            let no_echo = match p.get("NoEcho") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
                _ => false,
            };
            if no_echo {
                why.push(format!(
                    "parameter {name} is NoEcho (its deployed value cannot be read)"
                ));
            }
            if p.get("Type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with("AWS::SSM::Parameter::Value"))
            {
                why.push(format!(
                    "parameter {name} is resolved from SSM when deployed"
                ));
            }
        }
    }
    if let Some(resources) = doc.get("Resources").and_then(Value::as_object) {
        for (name, r) in resources {
            if r.get("Type").and_then(Value::as_str) == Some("AWS::CloudFormation::Stack") {
                why.push(format!("resource {name} is a nested stack"));
            }
        }
    }
    if mentions_include(doc) {
        why.push("the template includes AWS::Include".to_string());
    }
    why
}

fn mentions_include(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| {
            (k == "Fn::Transform" && v.get("Name").and_then(Value::as_str) == Some("AWS::Include"))
                || mentions_include(v)
        }),
        Value::Array(a) => a.iter().any(mentions_include),
        _ => false,
    }
}

/// `[{"ParameterKey": "K", "ParameterValue": "V"}, ...]` (what `aws cloudformation
/// create-stack --parameters file://...` reads), or a plain `{"K": "V"}` object.
fn parameter_file(path: &Path) -> Result<Vec<(String, String)>, Problem> {
    let text = document::read(path, Kind::Parameters)?;
    let doc = document::parse(path, &text, Kind::Parameters)?;
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let shape = "must be [{\"ParameterKey\": \"Name\", \"ParameterValue\": \"value\"}, ...]";
    match doc {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let key = item.get("ParameterKey").and_then(Value::as_str);
                let value = item.get("ParameterValue").and_then(scalar);
                match (key, value) {
                    (Some(k), Some(v)) if !k.is_empty() => Ok((k.to_string(), v)),
                    _ => Err(Problem::plain(format!(
                        "entry {} has no ParameterKey and ParameterValue: the file {shape}",
                        i + 1
                    ))),
                }
            })
            .collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                scalar(v).map(|v| (k.clone(), v)).ok_or_else(|| {
                    Problem::plain(format!("the value of {k} is not a string or number"))
                })
            })
            .collect(),
        _ => Err(Problem::plain(format!("the file {shape}"))),
    }
}

/// Deployed and given parameters differ: the names whose values would change. Parameters
/// not given keep their deployed value, so only the given ones are compared.
pub fn changed_parameters(
    given: &[(String, String)],
    deployed: &BTreeMap<String, String>,
) -> Vec<String> {
    given
        .iter()
        .filter(|(k, v)| deployed.get(k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yaml(text: &str) -> Value {
        parse(Path::new("t.yml"), text).unwrap()
    }

    #[test]
    fn short_form_tags_become_long_form() {
        let doc = yaml(
            "Resources:\n  C:\n    Type: AWS::ECS::Cluster\n    Properties:\n      ClusterName: !Sub '${Env}-x'\n      Tags:\n        - Key: a\n          Value: !Ref Env\n        - Key: b\n          Value: !GetAtt Db.Endpoint.Address\n        - Key: c\n          Value: !Join [',', [!Ref A, !Select [0, !GetAZs '']]]\n",
        );
        let p = &doc["Resources"]["C"]["Properties"];
        assert_eq!(p["ClusterName"], json!({"Fn::Sub": "${Env}-x"}));
        assert_eq!(p["Tags"][0]["Value"], json!({"Ref": "Env"}));
        assert_eq!(
            p["Tags"][1]["Value"],
            json!({"Fn::GetAtt": ["Db", "Endpoint.Address"]})
        );
        assert_eq!(
            p["Tags"][2]["Value"],
            json!({"Fn::Join": [",", [{"Ref": "A"}, {"Fn::Select": [0, {"Fn::GetAZs": ""}]}]]})
        );
    }

    #[test]
    fn short_and_long_forms_compare_equal() {
        let short = yaml("Resources:\n  P:\n    Type: T\n    Properties:\n      V: !Ref X\n");
        let long =
            yaml("Resources:\n  P:\n    Type: T\n    Properties:\n      V:\n        Ref: X\n");
        let json_form = parse(
            Path::new("t.json"),
            r#"{"Resources": {"P": {"Type": "T", "Properties": {"V": {"Ref": "X"}}}}}"#,
        )
        .unwrap();
        assert_eq!(short, long);
        assert_eq!(short, json_form);
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let e = parse(Path::new("t.yml"), "Resources:\n  P: [unclosed\n").unwrap_err();
        assert!(e.line.is_some() && e.column.is_some(), "{e:?}");
        assert!(e.message.starts_with("invalid YAML"), "{e:?}");
        let e = parse(Path::new("t.json"), "{\n  \"Resources\": {,}\n}").unwrap_err();
        assert_eq!((e.line, e.column), (Some(2), Some(17)));
        assert!(e.message.starts_with("invalid JSON"), "{e:?}");
    }

    #[test]
    fn templates_follow_the_rules_of_every_document() {
        // Issue 22: duplicate keys, an unknown short-form tag and a BOM were accepted silently.
        let dup = parse(
            Path::new("t.yml"),
            "Resources:\n  P:\n    Type: T\n  P:\n    Type: U\n",
        )
        .unwrap_err();
        assert_eq!(dup.line, Some(4), "{dup:?}");
        assert!(
            dup.message.contains("duplicate entry with key \"P\""),
            "{dup:?}"
        );
        let dup = parse(Path::new("t.json"), r#"{"Resources": {}, "Resources": {}}"#).unwrap_err();
        assert!(dup.message.contains("duplicate key `Resources`"), "{dup:?}");
        let bogus = parse(
            Path::new("t.yml"),
            "Resources:\n  P:\n    Type: T\n    Properties:\n      V: !Bogus X\n",
        )
        .unwrap_err();
        assert_eq!(bogus.line, Some(5), "{bogus:?}");
        assert!(
            bogus.message.contains("unknown CloudFormation tag !Bogus"),
            "{bogus:?}"
        );
        let bom = parse(
            Path::new("t.yml"),
            "\u{feff}Resources:\n  P:\n    Type: T\n",
        )
        .unwrap();
        assert_eq!(bom, yaml("Resources:\n  P:\n    Type: T\n"));
    }

    #[test]
    fn opaque_templates_are_recognised() {
        let doc = yaml(
            "Transform: AWS::Serverless-2016-10-31\nParameters:\n  Pw:\n    Type: String\n    NoEcho: true\n  Ami:\n    Type: AWS::SSM::Parameter::Value<String>\nResources:\n  N:\n    Type: AWS::CloudFormation::Stack\n  I:\n    Fn::Transform:\n      Name: AWS::Include\n",
        );
        let why = opaque_reasons(&doc);
        assert_eq!(why.len(), 5, "{why:?}");
        assert!(opaque_reasons(&yaml("Resources:\n  P:\n    Type: T\n")).is_empty());
    }

    #[test]
    fn only_given_parameters_are_compared() {
        let deployed: BTreeMap<String, String> = [("A", "1"), ("B", "2")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(changed_parameters(&[("A".into(), "1".into())], &deployed).is_empty());
        assert_eq!(
            changed_parameters(
                &[("B".into(), "3".into()), ("C".into(), "x".into())],
                &deployed
            ),
            vec!["B".to_string(), "C".to_string()]
        );
    }

    #[test]
    fn parameter_files_in_both_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        std::fs::write(
            &a,
            r#"[{"ParameterKey": "Env", "ParameterValue": "dev"}, {"ParameterKey": "N", "ParameterValue": 3}]"#,
        )
        .unwrap();
        assert_eq!(
            parameter_file(&a).unwrap(),
            vec![("Env".into(), "dev".into()), ("N".into(), "3".into())]
        );
        let b = dir.path().join("b.json");
        std::fs::write(&b, r#"{"Env": "a=b,c"}"#).unwrap();
        assert_eq!(
            parameter_file(&b).unwrap(),
            vec![("Env".into(), "a=b,c".into())]
        );
        // A value's spaces are part of it.
        let spaced = dir.path().join("spaced.json");
        std::fs::write(&spaced, r#"{"Env": " dev ", "Word": "  "}"#).unwrap();
        assert_eq!(
            parameter_file(&spaced).unwrap(),
            vec![("Env".into(), " dev ".into()), ("Word".into(), "  ".into())]
        );
        let dup = dir.path().join("dup.json");
        std::fs::write(&dup, r#"{"Env": "a", "Env": "b"}"#).unwrap();
        assert!(parameter_file(&dup)
            .unwrap_err()
            .message
            .contains("duplicate key `Env`"));
        let c = dir.path().join("c.json");
        std::fs::write(&c, "[{\"ParameterKey\": \"Env\"}]").unwrap();
        assert!(parameter_file(&c).unwrap_err().message.contains("entry 1"));
        assert!(parameter_file(&dir.path().join("missing.json"))
            .unwrap_err()
            .message
            .contains("file not found"));
    }

    #[test]
    fn the_example_template_parses() {
        let text = include_str!(
            "../../examples/dataspace/aws/cloudformation/dataspace-infrastructure.yml"
        );
        let doc = parse(Path::new("infrastructure.yml"), text).unwrap();
        check_shape(&doc).unwrap();
        assert!(text.len() < document::MAX_TEMPLATE_BYTES as usize);
        let keys: Vec<&String> = doc["Outputs"].as_object().unwrap().keys().collect();
        assert!(keys.iter().any(|k| *k == "ExecutionRoleArn"), "{keys:?}");
        assert_eq!(
            opaque_reasons(&doc),
            vec!["parameter DBPassword is NoEcho (its deployed value cannot be read)"]
        );
    }
}
