//! SigV4 signing (service `lambda`) of the CLI's requests, with the credentials
//! read once when the client is made.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

/// A key pair to sign with.
#[derive(Clone)]
pub struct Credentials {
    key_id: String,
    secret: String,
    region: String,
}

impl Credentials {
    /// `ONDOL_ACCESS_KEY_ID`/`ONDOL_SECRET_ACCESS_KEY`, else the AWS ones; none
    /// means requests go unsigned.
    pub fn from_env() -> Option<Self> {
        let pair = |a: &str, b: &str| Some((std::env::var(a).ok()?, std::env::var(b).ok()?));
        let (key_id, secret) = pair("ONDOL_ACCESS_KEY_ID", "ONDOL_SECRET_ACCESS_KEY")
            .or_else(|| pair("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))?;
        let region = std::env::var("AWS_DEFAULT_REGION").unwrap_or_else(|_| "us-east-1".into());
        Some(Self {
            key_id,
            secret,
            region,
        })
    }

    /// Adds a SigV4 signature to a request whose body is `body`.
    pub fn sign(&self, req: &mut Request<Full<Bytes>>, body: &[u8]) {
        use sha2::Digest;
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let scope = format!("{}/{}/lambda/aws4_request", &amz_date[..8], self.region);
        let host = req
            .uri()
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let h = req.headers_mut();
        h.insert("host", host.parse().expect("authority is a valid header"));
        h.insert("x-amz-date", amz_date.parse().expect("ascii"));
        let payload = hex::encode(sha2::Sha256::digest(body));
        let canonical = ondol_api::sigv4::canonical_request(
            req.method().as_str(),
            req.uri().path(),
            req.uri().query().unwrap_or(""),
            req.headers(),
            "host;x-amz-date",
            &payload,
        );
        let sig = hex::encode(ondol_api::sigv4::signature(
            &self.secret,
            &amz_date,
            &scope,
            &canonical,
        ));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=host;x-amz-date, Signature={sig}",
            self.key_id
        );
        req.headers_mut()
            .insert("authorization", auth.parse().expect("ascii"));
    }
}
