//! SAM APIs' `Auth` as authorizers, route auth, API keys and usage plans; routes
//! behind an authorizer ondol cannot take fail the import.

use super::import;
use ondol_core::manifest::{Authorizer, Manifest};

fn imported(t: &str) -> anyhow::Result<(tempfile::TempDir, String)> {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("template.yaml"), t).unwrap();
    let i = import(&d.path().join("template.yaml"), None)?;
    Ok((d, i.manifest))
}

const HTTP: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Users
        Authorizers:
          Users:
            IdentitySource: $request.header.Authorization
            AuthorizationScopes: [items:read]
            JwtConfiguration: {issuer: https://issuer.example/, audience: [web]}
          Gate:
            FunctionArn: !GetAtt Gate.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity: {Headers: [X-Key], ReauthorizeEvery: 60}
  Gate:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.11, Handler: app.handler}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.handler
      Events:
        A: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /a, Method: get}}
        B: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /b, Method: get, Auth: {Authorizer: Gate}}}
        C: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /c, Method: get, Auth: {Authorizer: NONE}}}
        D: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /d, Method: get, Auth: {AuthorizationScopes: [w]}}}
"#;

#[test]
fn http_api_authorizers_default_and_per_event() {
    let (d, m) = imported(HTTP).unwrap();
    let dep = Manifest::load(&m, d.path(), "t").unwrap_or_else(|e| panic!("{e}\n{m}"));
    let auth = |p: &str| {
        let r = dep.http.routes.iter().find(|r| r.key.ends_with(p)).unwrap();
        r.auth
            .as_ref()
            .map(|a| (a.authorizer.clone(), a.scopes.clone()))
    };
    assert_eq!(
        auth("/a"),
        Some(("Users".into(), vec!["items:read".into()]))
    );
    assert_eq!(auth("/b"), Some(("Gate".into(), vec![])));
    assert_eq!(auth("/c"), None, "Authorizer: NONE opens the route");
    assert_eq!(auth("/d"), Some(("Users".into(), vec!["w".into()])));
    match &dep.http.authorizers["Gate"] {
        Authorizer::Lambda(l) => {
            assert_eq!(l.identity_source, ["$request.header.X-Key"]);
            assert_eq!(l.ttl_s, 60);
        }
        o => panic!("{o:?}"),
    }
    assert!(matches!(&dep.http.authorizers["Users"], Authorizer::Jwt(j) if j.audience == ["web"]));
}

#[test]
fn rest_api_keys_plans_and_token_authorizers() {
    let t = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Rest:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      Auth:
        ApiKeyRequired: true
        UsagePlan:
          CreateUsagePlan: PER_API
          Quota: {Limit: 100, Period: DAY}
          Throttle: {RateLimit: 5, BurstLimit: 10}
        Authorizers:
          Tok: {FunctionArn: !GetAtt Gate.Arn, Identity: {Header: X-Token}}
  Gate:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.11, Handler: app.handler}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.handler
      Events:
        A: {Type: Api, Properties: {RestApiId: !Ref Rest, Path: /a, Method: get, Auth: {Authorizer: Tok}}}
        B: {Type: Api, Properties: {RestApiId: !Ref Rest, Path: /b, Method: get, Auth: {ApiKeyRequired: false}}}
"#;
    let (d, m) = imported(t).unwrap();
    let dep = Manifest::load(&m, d.path(), "t").unwrap_or_else(|e| panic!("{e}\n{m}"));
    let a = dep
        .http
        .routes
        .iter()
        .find(|r| r.key.ends_with("/a"))
        .unwrap();
    assert!(a.api_key_required && a.auth.is_some());
    let b = dep
        .http
        .routes
        .iter()
        .find(|r| r.key.ends_with("/b"))
        .unwrap();
    assert!(!b.api_key_required && b.auth.is_none());
    let plan = &dep.http.usage_plans["Rest"];
    assert_eq!(plan.quota.unwrap().limit, 100);
    match &dep.http.authorizers["Tok"] {
        Authorizer::Lambda(l) => assert_eq!(
            (l.identity_source[0].as_str(), l.ttl_s),
            ("$request.header.X-Token", 300)
        ),
        o => panic!("{o:?}"),
    }
}

#[test]
fn unmappable_authorizers_fail_the_import_instead_of_opening_routes() {
    let cognito = HTTP.replace(
        "JwtConfiguration: {issuer: https://issuer.example/, audience: [web]}",
        "UserPoolArn: arn:aws:cognito-idp:us-east-1:1:userpool/x",
    );
    let e = format!("{:#}", imported(&cognito).unwrap_err());
    assert!(
        e.contains("ondol would serve them open")
            && e.contains("Events.A")
            && e.contains("Cognito"),
        "{e}"
    );
    let iam = HTTP.replace("Auth: {Authorizer: Gate}", "Auth: {Authorizer: AWS_IAM}");
    let e = format!("{:#}", imported(&iam).unwrap_err());
    assert!(e.contains("Events.B: IAM"), "{e}");
    let outside = HTTP.replace(
        "!GetAtt Gate.Arn",
        "arn:aws:lambda:us-east-1:1:function:other",
    );
    let e = format!("{:#}", imported(&outside).unwrap_err());
    assert!(e.contains("FunctionArn"), "{e}");
}
