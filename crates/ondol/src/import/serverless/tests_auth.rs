//! Serverless authorizers, `private` routes and usage plans, loaded by ondol's own
//! manifest loader; protected routes ondol cannot take fail the import.

use std::path::Path;

use ondol_core::manifest::{Authorizer, Manifest, QuotaPeriod};

use super::from_str;

const SLS: &str = r#"
service: shop
provider:
  name: aws
  runtime: python3.11
  httpApi:
    authorizers:
      users:
        type: jwt
        identitySource: $request.header.Authorization
        issuerUrl: https://issuer.example/
        audience: [web]
      keyed:
        type: request
        functionName: gate
        resultTtlInSeconds: 30
        enableSimpleResponses: true
        payloadVersion: '2.0'
        identitySource: [$request.header.X-Key]
  apiGateway:
    apiKeys: [partner]
    usagePlan:
      quota: {limit: 500, period: MONTH}
      throttle: {rateLimit: 10, burstLimit: 20}
functions:
  gate:
    handler: gate.handler
  api:
    handler: app.main
    events:
      - httpApi: {method: get, path: /a, authorizer: {name: users, scopes: [items:read]}}
      - httpApi: {method: get, path: /b, authorizer: {name: keyed}}
      - http: {method: get, path: c, private: true}
      - http: {method: get, path: d, authorizer: {name: gate, identitySource: method.request.header.X-Token, resultTtlInSeconds: 0}}
"#;

#[test]
fn authorizers_keys_and_plans_load() {
    let i = from_str(SLS, None, &|_| None).unwrap();
    let d = Manifest::load(&i.manifest, Path::new("/srv/shop"), "imported")
        .unwrap_or_else(|e| panic!("{e}\n{}", i.manifest));
    let route = |p: &str| d.http.routes.iter().find(|r| r.key.ends_with(p)).unwrap();
    let a = route("/a").auth.as_ref().unwrap();
    assert_eq!(
        (a.authorizer.as_str(), a.scopes.as_slice()),
        ("users", &["items:read".to_string()][..])
    );
    assert_eq!(route("/b").auth.as_ref().unwrap().authorizer, "keyed");
    assert_eq!(route("/d").auth.as_ref().unwrap().authorizer, "gate");
    assert!(route("/c").api_key_required && route("/c").auth.is_none());
    assert!(!route("/a").api_key_required);
    let plan = d.http.usage_plans["default"];
    assert_eq!(plan.quota.unwrap().period, QuotaPeriod::Month);
    assert!(
        matches!(&d.http.authorizers["users"], Authorizer::Jwt(j) if j.issuer == "https://issuer.example/")
    );
    assert!(
        matches!(&d.http.authorizers["gate"], Authorizer::Lambda(l) if l.ttl_s == 0 && l.identity_source == ["$request.header.X-Token"])
    );
    assert!(matches!(&d.http.authorizers["keyed"], Authorizer::Lambda(l) if l.ttl_s == 30));
    let report = i.report.to_string();
    assert!(
        report.contains(
            "provider.apiGateway.apiKeys  →  nothing: make each key with `ondol keys create"
        ),
        "{report}"
    );
}

#[test]
fn one_name_for_two_authorizers_fails() {
    // The REST event's `gate` (the function) differs from an httpApi `gate`.
    let two = SLS
        .replace("keyed:", "gate:")
        .replace("name: keyed", "name: gate");
    let e = format!("{:#}", from_str(&two, None, &|_| None).err().unwrap());
    assert!(e.contains("defined, differently"), "{e}");
}

#[test]
fn unmappable_authorizers_fail_the_import() {
    for (from, to, want) in [
        (
            "authorizer: {name: keyed}}",
            "authorizer: {type: aws_iam}}",
            "IAM",
        ),
        (
            "authorizer: {name: keyed}}",
            "authorizer: {name: nobody}}",
            "no provider.httpApi.authorizers.nobody",
        ),
        (
            "authorizer: {name: gate, identitySource",
            "authorizer: {type: COGNITO_USER_POOLS, arn: x, identitySource",
            "arn",
        ),
        (
            "functionName: gate",
            "functionArn: arn:aws:lambda:x",
            "functionName",
        ),
    ] {
        let e = from_str(&SLS.replace(from, to), None, &|_| None).err();
        let e = format!("{:#}", e.unwrap_or_else(|| panic!("{to} imported")));
        assert!(
            e.contains("ondol would serve them open") && e.contains(want),
            "{e}"
        );
    }
}
