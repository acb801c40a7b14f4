//! ondol's own calls: warm, drain, leases, metrics, apps and their history,
//! rollback, logs, dead letters.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;

use super::types::*;
use super::{encode_segment, ApiError, Client};

/// ondol's own API of one client.
pub struct Ondol<'a>(pub(super) &'a Client);

impl Ondol<'_> {
    /// The server's region and account (destination ARNs) and its front door.
    pub async fn info(&self) -> Result<Info> {
        Ok(self
            .0
            .send_opt(Method::GET, "/ondol/v1/info", None::<&()>)
            .await?
            .unwrap_or_default())
    }

    /// Makes an API key; the answer holds its value, shown this once.
    pub async fn create_key(&self, k: &NewKey<'_>) -> Result<KeyInfo> {
        self.0.send(Method::POST, "/ondol/v1/keys", Some(k)).await
    }

    /// Every API key, with its use of its quota (never a value).
    pub async fn keys(&self) -> Result<Vec<KeyInfo>> {
        Ok(self.0.get::<KeyList>("/ondol/v1/keys").await?.keys)
    }

    /// Revokes the key `name`; false if there is none.
    pub async fn revoke_key(&self, name: &str) -> Result<bool> {
        let path = format!("/ondol/v1/keys/{}", encode_segment(name));
        self.0.send_unit(Method::DELETE, &path, None::<&()>).await
    }

    /// Each claimed host's DNS and certificate, as the server sees them.
    pub async fn domains(&self) -> Result<Domains> {
        self.0.get("/ondol/v1/domains").await
    }

    pub async fn metrics(&self) -> Result<Metrics> {
        Ok(self
            .0
            .send_opt(Method::GET, "/ondol/v1/metrics", None::<&()>)
            .await?
            .unwrap_or_default())
    }

    /// Starts `count` instances of a version and waits for their init; the
    /// refusal carries the version's init log.
    pub async fn warm(
        &self,
        name: &str,
        version: &str,
        count: u32,
    ) -> Result<Result<(), WarmRefusal>> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Warm<'a> {
            version: &'a str,
            count: u32,
        }
        let path = format!("/ondol/v1/functions/{name}/warm");
        let body = Bytes::from(serde_json::to_vec(&Warm { version, count })?);
        let r = self.0.raw(Method::POST, &path, &[], body).await?;
        if r.status.is_success() {
            return Ok(Ok(()));
        }
        Ok(Err(serde_json::from_slice(&r.body).unwrap_or_default()))
    }

    /// Stops a version's idle instances; busy ones finish their work.
    pub async fn drain(&self, name: &str, version: &str) -> Result<()> {
        let path = format!("/ondol/v1/functions/{name}/drain");
        let body = serde_json::json!({ "Version": version });
        self.0.send_unit(Method::POST, &path, Some(&body)).await?;
        Ok(())
    }

    /// Takes or renews a lease on a split alias; false if the alias is gone.
    pub async fn put_lease(&self, path: &str, body: &impl Serialize) -> Result<bool> {
        self.0.send_unit(Method::PUT, path, Some(body)).await
    }

    pub async fn release_lease(&self, path: &str, token: &str) -> Result<()> {
        let path = format!("{path}?Token={token}");
        self.0.send_unit(Method::DELETE, &path, None::<&()>).await?;
        Ok(())
    }

    /// Sends an app's HTTP side (`check` = only see if it would be refused). A
    /// 400 gives back the server's message alone (`key: what`).
    pub async fn app_http(
        &self,
        app: &str,
        check: bool,
        http: &impl Serialize,
    ) -> Result<Result<(), String>> {
        let (method, path) = if check {
            (Method::POST, format!("/ondol/v1/apps/{app}/check"))
        } else {
            (Method::PUT, format!("/ondol/v1/apps/{app}"))
        };
        let body = Bytes::from(serde_json::to_vec(http)?);
        let r = self.0.raw(method, &path, &[], body).await?;
        if r.status == StatusCode::BAD_REQUEST {
            return Ok(Err(ApiError::of(&r, None).message));
        }
        if !r.status.is_success() {
            return Err(ApiError::of(&r, Some(&path)).into());
        }
        Ok(Ok(()))
    }

    /// Takes an app's routes (of one stage, `query` = `?stage=S`) off; false if
    /// it had none.
    pub async fn delete_app(&self, app: &str, query: &str) -> Result<bool> {
        let path = format!("/ondol/v1/apps/{app}{query}");
        self.0.send_unit(Method::DELETE, &path, None::<&()>).await
    }

    /// The app's history (or one stage's), newest first.
    pub async fn deploys(&self, app: &str, stage: Option<&str>) -> Result<Vec<DeployRecord>> {
        let path = format!("/ondol/v1/apps/{app}/deploys{}", stage_query(stage));
        let d: Option<Deploys> = self.0.send_opt(Method::GET, &path, None::<&()>).await?;
        Ok(d.unwrap_or_default().deploys)
    }

    /// Adds an entry to the app's history; returns its number.
    pub async fn record_deploy(&self, d: &NewDeploy<'_>) -> Result<i64> {
        #[derive(serde::Deserialize)]
        struct Id {
            id: i64,
        }
        let path = format!("/ondol/v1/apps/{}/deploys", d.app);
        let id: Option<Id> = self.0.send_opt(Method::POST, &path, Some(d)).await?;
        Ok(id.map_or(0, |i| i.id))
    }

    /// Puts a stage back on an earlier deploy's versions (`to`, else the one
    /// before the live one).
    pub async fn rollback(
        &self,
        app: &str,
        stage: &str,
        to: Option<i64>,
        who: &str,
    ) -> Result<RolledBack> {
        let body = serde_json::json!({ "stage": stage, "to": to, "who": who });
        let path = format!("/ondol/v1/apps/{}/rollback", encode_segment(app));
        let r = self
            .0
            .raw(Method::POST, &path, &[], Bytes::from(body.to_string()))
            .await?;
        if !r.status.is_success() {
            return Err(ApiError::of(&r, None).into());
        }
        serde_json::from_slice(&r.body).context("reading the rollback's answer")
    }

    /// Log lines; `query` is the query string's parts.
    pub async fn logs(&self, query: &[String]) -> Result<LogPage> {
        self.0
            .get(&format!("/ondol/v1/logs?{}", query.join("&")))
            .await
    }

    /// A function's dead letters (one, with `id`), as the server gives them.
    pub async fn dead_letters(&self, function: &str, id: Option<i64>) -> Result<Vec<Value>> {
        #[derive(serde::Deserialize)]
        struct Letters {
            dead_letters: Vec<Value>,
        }
        let path = format!("/ondol/v1/dlq/{}{}", encode_segment(function), id_query(id));
        let l: Letters = self.0.get(&path).await?;
        Ok(l.dead_letters)
    }

    /// Puts dead letters back on the queue; how many.
    pub async fn replay(&self, function: &str, id: Option<i64>) -> Result<u64> {
        #[derive(serde::Deserialize)]
        struct Replayed {
            replayed: u64,
        }
        let path = format!(
            "/ondol/v1/dlq/{}/replay{}",
            encode_segment(function),
            id_query(id)
        );
        let r: Replayed = self.0.fetch(Method::POST, &path).await?;
        Ok(r.replayed)
    }

    /// Deletes dead letters; how many.
    pub async fn purge(&self, function: &str, id: Option<i64>) -> Result<u64> {
        #[derive(serde::Deserialize)]
        struct Purged {
            purged: u64,
        }
        let path = format!("/ondol/v1/dlq/{}{}", encode_segment(function), id_query(id));
        let r: Purged = self.0.fetch(Method::DELETE, &path).await?;
        Ok(r.purged)
    }

    /// The bytes at a code location the server gave (`/ondol/v1/code/<sha256>`).
    pub async fn code(&self, location: &str) -> Result<Bytes> {
        let r = self.0.raw(Method::GET, location, &[], Bytes::new()).await?;
        if !r.status.is_success() {
            bail!("reading its previous code: {}", ApiError::of(&r, None));
        }
        Ok(r.body)
    }
}

/// `?stage=S` for the ondol API's per-stage requests (`$default` encoded), or nothing.
pub fn stage_query(stage: Option<&str>) -> String {
    stage
        .map(|s| format!("?stage={}", encode_segment(s)))
        .unwrap_or_default()
}

fn id_query(id: Option<i64>) -> String {
    id.map(|i| format!("?id={i}")).unwrap_or_default()
}
