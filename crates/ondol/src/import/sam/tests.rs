//! The SAM mapping, template text in, manifest text and report out; each manifest is
//! also loaded by the real manifest loader, as `ondol deploy` loads it.

use std::path::Path;

use super::function::strategy;
use super::import;
use crate::import::report::Verdict;
use crate::import::Imported;

fn project(
    template: &str,
    samconfig: Option<&str>,
    stage: Option<&str>,
) -> (tempfile::TempDir, Imported) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("template.yaml"), template).unwrap();
    if let Some(c) = samconfig {
        std::fs::write(d.path().join("samconfig.toml"), c).unwrap();
    }
    let i = import(&d.path().join("template.yaml"), stage).unwrap();
    (d, i)
}

fn loads(dir: &Path, i: &Imported) -> ondol_core::manifest::Deployment {
    ondol_core::manifest::Manifest::load(&i.manifest, dir, "template.yaml (imported)")
        .unwrap_or_else(|e| panic!("{e}\n{}", i.manifest))
}

fn verdict<'a>(i: &'a Imported, key: &str) -> &'a Verdict {
    &i.report
        .entries
        .iter()
        .find(|e| e.key == key)
        .unwrap_or_else(|| panic!("no {key} in\n{}", i.report))
        .verdict
}

const HELLO: &str = r#"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    Runtime: python3.12
    Timeout: 5
    Environment: {Variables: {STAGE: !Ref Stage}}
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      MemorySize: !If [IsProd, 512, 128]
      Environment: {Variables: {NAME: !Sub "${AWS::StackName}-${Stage}"}}
      Events:
        Get: {Type: Api, Properties: {Path: /hello, Method: get}}
        All: {Type: HttpApi}
        Tick: {Type: Schedule, Properties: {Schedule: rate(5 minutes), Input: '{"a": [1, 2]}'}}
        Off: {Type: Schedule, Properties: {Schedule: rate(1 minute), Enabled: false}}
  Queue: {Type: AWS::SQS::Queue}
"#;

#[test]
fn a_function_with_globals_events_and_parameters() {
    let (d, i) = project(HELLO, None, None);
    std::fs::create_dir(d.path().join("src")).unwrap();
    let m = &i.manifest;
    assert!(
        m.contains("# Resources.Hello (AWS::Serverless::Function)\n[functions.Hello]"),
        "{m}"
    );
    assert!(
        m.contains(r#"runtime = "python3.12""#) && m.contains(r#"code = "src""#),
        "{m}"
    );
    assert!(
        m.contains(r#"timeout = "5s""#) && m.contains("memory_mb = 128"),
        "{m}"
    );
    let dep = loads(d.path(), &i);
    let f = &dep.functions[0];
    let app = dep.app.clone();
    assert_eq!(
        f.config.environment.get("NAME").map(String::as_str),
        Some(format!("{app}-dev").as_str())
    );
    assert_eq!(
        f.config.environment.get("STAGE").map(String::as_str),
        Some("dev")
    );
    assert!(
        m.contains(r#"route = "GET /hello""#) && m.contains(r#"payload = "1.0""#),
        "{m}"
    );
    assert!(
        m.contains(r#"route = "$default""#) && m.contains(r#"payload = "2.0""#),
        "{m}"
    );
    assert!(m.contains(r#"input = { a = [1, 2] }"#), "{m}");
    assert_eq!(
        m.matches("[[schedules]]").count(),
        1,
        "a disabled schedule is left out: {m}"
    );
    assert!(matches!(
        verdict(&i, "Resources.Queue (AWS::SQS::Queue)"),
        Verdict::Unsupported(_)
    ));
    assert!(matches!(
        verdict(&i, "Globals.Function.Runtime"),
        Verdict::Mapped(_)
    ));
}

#[test]
fn samconfig_environment_overrides_parameters_and_names_the_stage() {
    let cfg = r#"
version = 0.1
[default.deploy.parameters]
stack_name = "my stack!"
[prod.deploy.parameters]
stack_name = "shop"
parameter_overrides = "Stage=prod"
region = "eu-west-1"
"#;
    let (d, i) = project(HELLO, Some(cfg), Some("prod"));
    std::fs::create_dir(d.path().join("src")).unwrap();
    let m = &i.manifest;
    assert!(
        m.contains(r#"app = "shop""#) && m.contains("memory_mb = 512"),
        "{m}"
    );
    assert!(m.contains("[stages.prod]"), "{m}");
    let dep = ondol_core::manifest::Manifest::load(m, d.path(), "t").unwrap();
    dep.for_stage("prod").unwrap();
    assert!(matches!(
        verdict(&i, "samconfig.toml prod.deploy.parameters.region"),
        Verdict::Unsupported(_)
    ));
    let (_d, i) = project(HELLO, Some(cfg), None);
    assert!(
        i.manifest.contains(r#"app = "my-stack-""#),
        "{}",
        i.manifest
    );
}

#[test]
fn a_reference_to_a_resource_ondol_does_not_create_is_reported_not_invented() {
    let t = HELLO.replace("{NAME: !Sub", "{Q: !Ref Queue, NAME: !Sub");
    let (_d, i) = project(&t, None, None);
    assert!(!i.manifest.contains("Q ="), "{}", i.manifest);
    match verdict(&i, "Resources.Hello.Properties.Environment.Variables.Q") {
        Verdict::Unsupported(why) => assert!(why.contains("AWS::SQS::Queue"), "{why}"),
        v => panic!("{v:?}"),
    }
}

#[test]
fn deployment_preferences_become_strategies() {
    assert_eq!(
        strategy("Canary10Percent5Minutes").unwrap(),
        "canary 10% 5m"
    );
    assert_eq!(
        strategy("Linear10PercentEvery1Minute").unwrap(),
        "linear 10% every 1m"
    );
    assert_eq!(
        strategy("Linear10PercentEvery10Minutes").unwrap(),
        "linear 10% every 10m"
    );
    assert_eq!(strategy("AllAtOnce").unwrap(), "all-at-once");
    assert_eq!(
        strategy("CodeDeployDefault.LambdaCanary10Percent30Minutes").unwrap(),
        "canary 10% 30m"
    );
    assert!(strategy("Blue").is_err());
}

#[test]
fn layers_alias_and_provisioned_concurrency() {
    let t = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: deps/, CompatibleRuntimes: [python3.12], LayerName: deps}
    Metadata: {BuildMethod: python3.12}
  Api:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      AutoPublishAlias: live
      DeploymentPreference: {Type: Linear10PercentEvery1Minute, Hooks: {PreTraffic: !Ref Hook}}
      ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 2}
      Layers: [!Ref Deps]
"#;
    let (d, i) = project(t, None, None);
    std::fs::create_dir(d.path().join("deps")).unwrap();
    let m = &i.manifest;
    assert!(
        m.contains(r#"strategy = "linear 10% every 1m""#) && m.contains("min_warm = 2"),
        "{m}"
    );
    assert!(
        m.contains(r#"layers = ["Deps"]"#) && m.contains("[layers.Deps]"),
        "{m}"
    );
    assert!(
        m.contains(r#"code = ".""#),
        "no CodeUri is the template's directory: {m}"
    );
    loads(d.path(), &i);
    assert!(matches!(
        verdict(&i, "Resources.Api.Properties.DeploymentPreference.Hooks"),
        Verdict::Unsupported(_)
    ));
    assert!(matches!(
        verdict(&i, "Resources.Deps.Properties.LayerName"),
        Verdict::Unsupported(_)
    ));
}

#[test]
fn the_web_adapter_by_its_settings_alone_is_web_mode() {
    let t = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Site:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: app
      Runtime: nodejs20.x
      Handler: run.sh
      Environment: {Variables: {AWS_LWA_PORT: "3000", AWS_LWA_READINESS_CHECK_PATH: /up, MODE: x}}
      Events: {Root: {Type: HttpApi, Properties: {Path: "/{proxy+}", Method: ANY}}}
"#;
    let (d, i) = project(t, None, None);
    std::fs::create_dir(d.path().join("app")).unwrap();
    let m = &i.manifest;
    assert!(
        m.contains(r#"runtime = "web""#) && m.contains(r#"command = ["sh", "run.sh"]"#),
        "{m}"
    );
    assert!(
        m.contains(r#"readiness_path = "/up""#) && !m.contains("AWS_LWA_PORT"),
        "{m}"
    );
    assert!(!m.contains("payload"), "web mode has no payload: {m}");
    assert!(m.contains(r#"route = "ANY /{proxy+}""#), "{m}");
    loads(d.path(), &i);
}

#[test]
fn a_template_without_the_transform_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("template.yaml");
    std::fs::write(&p, "Resources: {}\n").unwrap();
    let e = import(&p, None).err().unwrap().to_string();
    assert!(e.contains("AWS::Serverless-2016-10-31"), "{e}");
}

#[test]
fn an_http_api_gives_the_app_its_cors_and_maps_its_auth() {
    let t = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  MyApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration:
        AllowOrigins: [https://a.example]
        AllowMethods: [GET]
        MaxAge: 60
      Auth:
        Authorizers:
          Jwt: {JwtConfiguration: {issuer: https://issuer.example, audience: [x]}}
  OtherApi:
    Type: AWS::Serverless::HttpApi
    Properties: {CorsConfiguration: true}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      Events: {E: {Type: HttpApi, Properties: {ApiId: !Ref MyApi, Path: /x, Method: get}}}
"#;
    let (d, i) = project(t, None, None);
    let m = &i.manifest;
    assert!(m.contains(r#"cors = { allow_origins = ["https://a.example"], allow_methods = ["GET"], max_age = 60 }"#), "{m}");
    let dep = loads(d.path(), &i);
    assert!(dep.http.cors.is_some());
    assert!(matches!(
        verdict(&i, "Resources.MyApi.Properties.Auth"),
        Verdict::Mapped(_)
    ));
    match verdict(&i, "Resources.OtherApi.Properties.CorsConfiguration") {
        Verdict::Unsupported(why) => assert!(why.contains("one CORS per app"), "{why}"),
        v => panic!("{v:?}"),
    }
    assert!(matches!(
        verdict(&i, "Resources.Fn.Properties.Events.E.Properties.ApiId"),
        Verdict::Mapped(_)
    ));
}

#[test]
fn event_invoke_config_becomes_async_and_a_large_template_imports() {
    let mut t = String::from("Transform: AWS::Serverless-2016-10-31\nResources:\n");
    for n in 0..40 {
        t.push_str(&format!("  F{n}:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n      Handler: app.handler\n      Events: {{E: {{Type: Api, Properties: {{Path: /f{n}, Method: get}}}}}}\n"));
        for r in 0..4 {
            t.push_str(&format!("  T{n}x{r}:\n    Type: AWS::DynamoDB::Table\n"));
        }
    }
    t.push_str("  Worker:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n      Handler: app.handler\n      EventInvokeConfig:\n        MaximumRetryAttempts: 1\n        MaximumEventAgeInSeconds: 3600\n        DestinationConfig:\n          OnFailure: {Type: Lambda, Destination: !GetAtt F0.Arn}\n          OnSuccess: {Type: SQS, Destination: arn:aws:sqs:us-east-1:1:q}\n");
    let (d, i) = project(&t, None, None);
    let dep = loads(d.path(), &i);
    assert_eq!(dep.functions.len(), 41);
    assert_eq!(i.report.unsupported_count(), 161, "{}", i.report);
    assert!(
        i.manifest
            .contains(r#"async = { maximum_event_age = "3600s", maximum_retry_attempts = 1 }"#),
        "{}",
        i.manifest
    );
    match verdict(
        &i,
        "Resources.Worker.Properties.EventInvokeConfig.DestinationConfig",
    ) {
        Verdict::Unsupported(why) => assert!(why.contains("OnSuccess"), "{why}"),
        v => panic!("{v:?}"),
    }
    let t = t.replace(
        "{Type: SQS, Destination: arn:aws:sqs:us-east-1:1:q}",
        "{Type: Lambda, Destination: !GetAtt F1.Arn}",
    );
    let (d, i) = project(&t, None, None);
    assert!(
        i.manifest
            .contains(r#"on_success = "F1", on_failure = "F0""#),
        "{}",
        i.manifest
    );
    loads(d.path(), &i);
}
