//! Secrets: where each value comes from and where it is installed.

use serde::Serialize;

use super::{paths, tf_ident, Located, Role};
use crate::spec::{Provisioning, SecretSource, Spec};

/// A secret: where its value comes from and where it is installed. The value
/// itself never passes through rmqgen.
#[derive(Debug, Clone, Serialize)]
pub struct Secret {
    /// Stable id, e.g. `erlang-cookie`.
    pub id: String,
    /// Terraform-safe identifier derived from the id, e.g. `erlang_cookie`.
    pub tf_name: String,
    /// Where the value comes from.
    pub source: Located<SecretSource>,
    /// What it is for.
    pub purpose: String,
    /// Hosts that need it.
    pub role: Role,
    /// The one host of `role` that gets it, for a per-host secret (a TLS
    /// certificate or key); `None`: every host of `role`.
    pub host: Option<String>,
    /// Installed path.
    pub path: &'static str,
    /// File name under `path` when `path` is a directory (per-user secrets).
    pub file_name: Option<String>,
    /// The name the file assigns, when the file is the single line
    /// `NAME=<value>` rather than the bare value: an environment variable
    /// (a systemd `EnvironmentFile`) or, starting with `$`, a keepalived
    /// parameter definition (a file keepalived.conf includes).
    pub env_var: Option<&'static str>,
    /// Owner.
    pub owner: &'static str,
    /// Group.
    pub group: &'static str,
    /// Mode.
    pub mode: u32,
    /// Minimum length when generated, characters.
    pub length: u32,
    /// Whether generated values may contain special characters.
    pub special: bool,
}

impl Secret {
    /// Full installed path.
    pub fn install_path(&self) -> String {
        match &self.file_name {
            Some(f) => format!("{}/{f}", self.path),
            None => self.path.to_string(),
        }
    }
}

/// The Terraform name of a RabbitMQ user's password secret. Case and
/// punctuation are lost, so validation rejects users whose names map to the
/// same one.
pub(super) fn user_password_tf_name(user: &str) -> String {
    tf_ident(&format!("rabbitmq_user_{user}_password"))
}

/// The Erlang cookie. cloud-init installs it where RabbitMQ reads it; on
/// NixOS the broker module copies it there from a root-only file at every
/// start.
pub(super) fn erlang_cookie(spec: &Spec, provisioning: Provisioning) -> Secret {
    let (path, owner) = match provisioning {
        Provisioning::CloudInit => (paths::ERLANG_COOKIE, "rabbitmq"),
        Provisioning::Nixos => (paths::NIXOS_ERLANG_COOKIE, "root"),
    };
    Secret {
        id: "erlang-cookie".into(),
        tf_name: "erlang_cookie".into(),
        source: Located::field(
            "/rabbitmq/erlang_cookie",
            spec.rabbitmq.erlang_cookie.clone(),
            SecretSource::TerraformRandom {},
        ),
        purpose: "Erlang distribution cookie shared by every broker".into(),
        role: Role::Broker,
        host: None,
        path,
        file_name: None,
        env_var: None,
        owner,
        group: owner,
        mode: 0o400,
        // Erlang cookies are at most 255 characters of printable ASCII;
        // alphanumerics avoid any quoting question.
        length: 48,
        special: false,
    }
}

/// The VRRPv2 password, when the spec asks for one: a keepalived parameter
/// definition in a root-only file that keepalived.conf includes, so the
/// configuration itself (world-readable, in the Nix store on NixOS) only
/// names it. Both delivery paths write it where the same keepalived.conf
/// reads it.
pub(super) fn vrrp_auth_pass(spec: &Spec) -> Option<Secret> {
    let source = spec.keepalived.as_ref()?.auth_pass.clone()?;
    Some(Secret {
        id: "vrrp-auth-pass".into(),
        tf_name: "vrrp_auth_pass".into(),
        source: Located::given("/keepalived/auth_pass", source),
        purpose: "VRRPv2 password of the load balancers' keepalived".into(),
        role: Role::LoadBalancer,
        host: None,
        path: paths::KEEPALIVED_AUTH,
        file_name: None,
        env_var: Some(paths::VRRP_AUTH_PARAM),
        owner: "root",
        group: "root",
        mode: 0o600,
        // keepalived uses at most 8 characters; letters and digits need no
        // quoting in its configuration.
        length: 8,
        special: false,
    })
}
