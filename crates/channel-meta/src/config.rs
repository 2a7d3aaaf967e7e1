//! `[channels.meta]`: the configuration of the Meta channel, with secrets that never print.

use serde::{Deserialize, Serialize};

pub use aduan_core::secret::Secret;

/// The default Graph API base URL (version included, no trailing slash).
pub const DEFAULT_GRAPH_API_URL: &str = "https://graph.facebook.com/v25.0";

/// `[channels.meta]`: Messenger, Instagram and WhatsApp Cloud API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetaConfig {
    /// Serve `/webhooks/meta` and send replies on the Meta platforms.
    #[serde(default)]
    pub enabled: bool,
    /// The Meta app's App Secret: key of the `X-Hub-Signature-256` HMAC on every webhook.
    #[serde(default)]
    pub app_secret: Secret,
    /// The token typed into the App Dashboard; checked on the `GET` verification handshake.
    #[serde(default)]
    pub verify_token: Secret,
    /// Graph API base URL with its version, e.g. `https://graph.facebook.com/v25.0`.
    #[serde(default = "default_graph_api_url")]
    pub graph_api_url: String,
    /// Page access token for Messenger replies (empty: no Messenger replies).
    #[serde(default)]
    pub page_access_token: Secret,
    /// Access token for Instagram replies (empty: no Instagram replies).
    #[serde(default)]
    pub instagram_access_token: Secret,
    /// WhatsApp Business phone number id that sends replies (empty: no WhatsApp replies).
    #[serde(default)]
    pub whatsapp_phone_number_id: String,
    /// System-user access token of the WhatsApp Cloud API.
    #[serde(default)]
    pub whatsapp_access_token: Secret,
    /// Name of the approved WhatsApp template (language `id`, one body parameter: the
    /// ticket number) sent when the 24-hour window has closed; empty: such replies fail.
    #[serde(default)]
    pub whatsapp_answer_template: String,
}

fn default_graph_api_url() -> String {
    DEFAULT_GRAPH_API_URL.to_string()
}

impl Default for MetaConfig {
    fn default() -> Self {
        MetaConfig {
            enabled: false,
            app_secret: Secret::default(),
            verify_token: Secret::default(),
            graph_api_url: default_graph_api_url(),
            page_access_token: Secret::default(),
            instagram_access_token: Secret::default(),
            whatsapp_phone_number_id: String::new(),
            whatsapp_access_token: Secret::default(),
            whatsapp_answer_template: String::new(),
        }
    }
}

impl MetaConfig {
    /// The channels [`crate::senders`] builds a sender for (empty when disabled): the desk
    /// queues replies only on these.
    pub fn reply_channels(&self) -> Vec<aduan_core::types::Channel> {
        use aduan_core::types::Channel;
        if !self.enabled {
            return Vec::new();
        }
        let mut v = Vec::new();
        if !self.page_access_token.is_empty() {
            v.push(Channel::Messenger);
        }
        if !self.instagram_access_token.is_empty() {
            v.push(Channel::Instagram);
        }
        if !self.whatsapp_phone_number_id.is_empty() && !self.whatsapp_access_token.is_empty() {
            v.push(Channel::Whatsapp);
        }
        v
    }

    /// Problems of an enabled configuration, each naming its key (empty when usable or
    /// disabled). The binary reports them all at start-up.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.enabled {
            return out;
        }
        if self.app_secret.is_empty() {
            out.push("channels.meta.app_secret: required when the Meta channel is enabled".into());
        }
        if self.verify_token.is_empty() {
            out.push(
                "channels.meta.verify_token: required when the Meta channel is enabled".into(),
            );
        }
        match reqwest::Url::parse(&self.graph_api_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => out.push(format!(
                "channels.meta.graph_api_url: `{}` is not an http(s) URL",
                self.graph_api_url
            )),
        }
        if self.whatsapp_access_token.is_empty() != self.whatsapp_phone_number_id.is_empty() {
            out.push(
                "channels.meta.whatsapp_phone_number_id / whatsapp_access_token: set both or neither"
                    .into(),
            );
        }
        if self.whatsapp_phone_number_id.contains(['/', '?', '#'])
            || self.whatsapp_phone_number_id.contains("..")
        {
            out.push("channels.meta.whatsapp_phone_number_id: not a phone number id".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_masking() {
        let c: MetaConfig = toml::from_str("").unwrap();
        assert_eq!(c, MetaConfig::default());
        assert!(!c.enabled);
        assert_eq!(c.graph_api_url, DEFAULT_GRAPH_API_URL);
        assert!(c.problems().is_empty());

        let c: MetaConfig = toml::from_str(
            r#"
enabled = true
app_secret = "s3cret"
verify_token = "vt"
page_access_token = "EAAB"
"#,
        )
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cret") && !dbg.contains("EAAB"), "{dbg}");
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["app_secret"], "********");
        assert_eq!(json["instagram_access_token"], "");
        assert!(c.problems().is_empty(), "{:?}", c.problems());
    }

    #[test]
    fn unknown_keys_and_problems() {
        assert!(toml::from_str::<MetaConfig>("enabeld = true").is_err());
        let c: MetaConfig = toml::from_str(
            r#"
enabled = true
graph_api_url = "ftp://x"
whatsapp_phone_number_id = "123"
"#,
        )
        .unwrap();
        let p = c.problems();
        assert_eq!(p.len(), 4, "{p:?}");
    }
}
