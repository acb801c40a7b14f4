//! The mapping, checked by loading each import with ondol's own manifest loader.

use std::path::Path;

use ondol_core::manifest::Manifest;

use super::from_str;
use crate::import::report::Verdict;
use crate::import::Imported;

fn import(yaml: &str, stage: Option<&str>) -> Imported {
    from_str(yaml, stage, &|k| (k == "TOKEN").then(|| "t0k".to_string())).unwrap()
}

fn verdict<'a>(i: &'a Imported, key: &str) -> &'a Verdict {
    &i.report
        .entries
        .iter()
        .find(|e| e.key == key)
        .unwrap_or_else(|| panic!("{key} not in the report:\n{}", i.report))
        .verdict
}

const API: &str = r#"
service: shop
frameworkVersion: '3'
provider:
  name: aws
  runtime: python3.11
  stage: ${opt:stage, 'dev'}
  region: eu-west-1
  memorySize: 512
  timeout: 20
  environment:
    TABLE: orders-${sls:stage}
    TOKEN: ${env:TOKEN}
  iamRoleStatements: []
custom:
  size: 1024
functions:
  api:
    handler: app.main
    memorySize: ${self:custom.size}
    environment: {MODE: fast}
    events:
      - httpApi: 'GET /items/{id}'
      - httpApi: {method: '*', path: '/proxy/{proxy+}'}
      - httpApi: '*'
      - http: {path: 'users/{id}', method: any, cors: true}
  cron:
    handler: app.cron
    runtime: nodejs20.x
    events:
      - schedule: {rate: [rate(5 minutes), 'cron(0 3 * * ? *)'], input: {a: 1}}
      - schedule: {rate: rate(1 hour), enabled: false}
      - sqs: arn:aws:sqs:eu-west-1:1:q
resources: {}
"#;

#[test]
fn an_http_api_maps_key_by_key_and_loads() {
    let i = import(API, None);
    let d = Manifest::load(&i.manifest, Path::new("/srv/shop"), "imported").unwrap();
    assert_eq!(d.app, "shop");
    let api = d.functions.iter().find(|f| f.key == "api").unwrap();
    assert_eq!(api.config.memory_mb, 1024, "function overrides provider");
    assert_eq!(api.config.timeout_ms, 20_000);
    assert_eq!(api.config.handler, "app.main");
    assert_eq!(api.code_dir, Path::new("/srv/shop/."));
    let env = &api.config.environment;
    assert_eq!(env["TABLE"], "orders-dev");
    assert_eq!(env["TOKEN"], "t0k");
    assert_eq!(env["MODE"], "fast");
    let text = &i.manifest;
    for want in [
        "route = \"GET /items/{id}\"",
        "route = \"ANY /proxy/{proxy+}\"",
        "route = \"$default\"",
        "route = \"ANY /users/{id}\"\nfunction = \"api\"\npayload = \"1.0\"",
        "expression = \"rate(5 minutes)\"",
        "expression = \"cron(0 3 * * ? *)\"",
        "# from functions.api.events[0].httpApi",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    assert!(
        !text.contains("rate(1 hour)"),
        "a disabled schedule is left out"
    );
    assert_eq!(d.http.schedules.len(), 2);
    assert_eq!(d.http.schedules[0].input, Some(serde_json::json!({"a": 1})));
}

#[test]
fn every_key_is_in_the_report() {
    let i = import(API, None);
    for key in [
        "provider.iamRoleStatements",
        "resources",
        "functions.cron.events[2].sqs",
        "functions.api.events[3].http.cors",
    ] {
        assert!(matches!(verdict(&i, key), Verdict::Unsupported(_)), "{key}");
    }
    for key in [
        "service",
        "provider.region",
        "provider.runtime",
        "custom",
        "functions.api.memorySize",
        "functions.cron.events[1].schedule.enabled",
    ] {
        assert!(matches!(verdict(&i, key), Verdict::Mapped(_)), "{key}");
    }
}

#[test]
fn a_stage_resolves_variables_and_is_declared() {
    let i = import(API, Some("prod"));
    let d = Manifest::load(&i.manifest, Path::new("/srv/shop"), "imported").unwrap();
    let api = d.functions.iter().find(|f| f.key == "api").unwrap();
    assert_eq!(api.config.environment["TABLE"], "orders-prod");
    assert!(i.manifest.contains("[stages.prod]"), "{}", i.manifest);
}

#[test]
fn unresolvable_variables_and_plugins_are_reported() {
    let i = import(
        "service: s\nprovider: {name: aws, runtime: python3.12, environment: {K: '${ssm:/k}'}}\n\
         plugins: [serverless-python-requirements, serverless-offline, serverless-domain-manager]\n\
         functions: {f: {handler: h.f}}\n",
        None,
    );
    assert!(
        matches!(verdict(&i, "provider.environment.K"), Verdict::Unsupported(w) if w.contains("${ssm:/k}"))
    );
    assert!(matches!(
        verdict(&i, "plugins[0] (serverless-python-requirements)"),
        Verdict::Mapped(_)
    ));
    assert!(matches!(
        verdict(&i, "plugins[1] (serverless-offline)"),
        Verdict::Mapped(_)
    ));
    assert!(matches!(
        verdict(&i, "plugins[2] (serverless-domain-manager)"),
        Verdict::Unsupported(_)
    ));
}

#[test]
fn a_service_without_a_name_is_refused() {
    assert!(from_str("provider: {name: aws}\n", None, &|_| None).is_err());
    assert!(from_str("- a\n", None, &|_| None).is_err());
}
